"""The driving graph's standard topic and frame names, in one place.

Named after Autoware's conventions (``/sensing/...``, ``/localization/...``,
``/perception/...``, ``/planning/...``, ``/control/...``) and REP 105 frames. Nodes subscribe and
publish these names (a launch file remaps them); node parameters that name a topic or a frame
default to them. Tools that write bags (tools.scenario) use the same names.
"""

from __future__ import annotations

from typing import Final

# ---- sensing (inputs of the graph) -------------------------------------------------------------
CAMERA_IMAGE: Final = "/sensing/camera/front/image_raw"
CAMERA_INFO: Final = "/sensing/camera/front/camera_info"
LIDAR_POINTS: Final = "/sensing/lidar/top/points"
IMU: Final = "/sensing/imu/data"
GNSS_FIX: Final = "/sensing/gnss/fix"
VEHICLE_ODOMETRY: Final = "/vehicle/odometry"  # wheel odometry from the vehicle interface
TF_STATIC: Final = "/tf_static"
TF: Final = "/tf"
INITIAL_POSE: Final = "/initialpose"  # rviz's "2D Pose Estimate"

# ---- localization ------------------------------------------------------------------------------
LOCALIZATION_ODOMETRY: Final = "/localization/odometry"  # the ego pose and twist in map
SCAN_POSE: Final = "/localization/scan_pose"  # a scan-matched pose for the EKF

# ---- perception and mapping --------------------------------------------------------------------
CAMERA_OBJECTS: Final = "/perception/camera/objects"
CAMERA_DETECTIONS_2D: Final = "/perception/camera/detections2d"
LIDAR_OBJECTS: Final = "/perception/lidar/objects"
TRACKED_OBJECTS: Final = "/perception/objects"
VOXEL_UPDATES: Final = "/mapping/voxel_updates"
# autoware_perception_msgs/TrafficLightGroupArray, as Autoware's traffic_light_recognition
TRAFFIC_SIGNALS: Final = "/perception/traffic_light_recognition/traffic_signals"

# ---- planning and control ----------------------------------------------------------------------
TRAJECTORY: Final = "/planning/trajectory"
CONTROL_COMMAND: Final = "/control/command"
SAFE_STOP: Final = "/control/safe_stop"
DIAGNOSTICS: Final = "/diagnostics"

# ---- frames (REP 105, plus the sensors of the rig) ---------------------------------------------
FRAME_MAP: Final = "map"
FRAME_ODOM: Final = "odom"
FRAME_BASE: Final = "base_link"
FRAME_CAMERA: Final = "camera_front"
FRAME_LIDAR: Final = "lidar_top"
FRAME_IMU: Final = "imu_link"
FRAME_GNSS: Final = "gnss_link"
