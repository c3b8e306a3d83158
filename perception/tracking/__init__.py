"""Camera-lidar fusion and multi-object tracking (constant-velocity Kalman filters)."""
