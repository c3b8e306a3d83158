"""Localization: an EKF over IMU, wheel odometry and GNSS, publishing map -> base_link."""
