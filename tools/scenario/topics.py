"""Topic names and frame ids of a generated scenario bag (the contract other tools read)."""

from __future__ import annotations

CAMERA_IMAGE = "/sensing/camera/front/image_raw"
CAMERA_INFO = "/sensing/camera/front/camera_info"
LIDAR_POINTS = "/sensing/lidar/top/points"
IMU = "/sensing/imu/data"
GNSS_FIX = "/sensing/gnss/fix"
ODOMETRY = "/vehicle/odometry"
TF_STATIC = "/tf_static"
GT_OBJECTS = "/ground_truth/objects"
GT_CAMERA_BOXES = "/ground_truth/camera_boxes"
GT_EGO_POSE = "/ground_truth/ego_pose"

FRAME_MAP = "map"
FRAME_ODOM = "odom"
FRAME_BASE = "base_link"
FRAME_CAMERA = "camera_front"
FRAME_LIDAR = "lidar_top"
FRAME_IMU = "imu_link"
FRAME_GNSS = "gnss_link"

# topic -> ROS message type, in the order connections are added to the bag.
MSGTYPES: dict[str, str] = {
    TF_STATIC: "tf2_msgs/msg/TFMessage",
    CAMERA_IMAGE: "sensor_msgs/msg/Image",
    CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    LIDAR_POINTS: "sensor_msgs/msg/PointCloud2",
    IMU: "sensor_msgs/msg/Imu",
    GNSS_FIX: "sensor_msgs/msg/NavSatFix",
    ODOMETRY: "nav_msgs/msg/Odometry",
    GT_OBJECTS: "autoware_perception_msgs/msg/TrackedObjects",
    GT_CAMERA_BOXES: "vision_msgs/msg/Detection2DArray",
    GT_EGO_POSE: "geometry_msgs/msg/PoseStamped",
}
