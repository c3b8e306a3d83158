"""Topic names and frame ids of a generated scenario bag (the contract other tools read)."""

from __future__ import annotations

from stack import topics as std

# The graph's inputs, under their standard names (stack.topics).
CAMERA_IMAGE = std.CAMERA_IMAGE
CAMERA_INFO = std.CAMERA_INFO
LIDAR_POINTS = std.LIDAR_POINTS
IMU = std.IMU
GNSS_FIX = std.GNSS_FIX
ODOMETRY = std.VEHICLE_ODOMETRY
TF_STATIC = std.TF_STATIC
# Ground truth, for tools only (eval, train): no node reads these.
GT_OBJECTS = "/ground_truth/objects"
GT_CAMERA_BOXES = "/ground_truth/camera_boxes"
GT_EGO_POSE = "/ground_truth/ego_pose"
# Every signal group's state (TrafficLightGroupArray, as Autoware's traffic_signals) and each
# head's camera view (Detection2DArray: id = group id, class_id = state, score = visible share).
GT_TRAFFIC_SIGNALS = "/ground_truth/traffic_signals"
GT_TRAFFIC_LIGHT_ROIS = "/ground_truth/traffic_light_rois"

FRAME_MAP = std.FRAME_MAP
FRAME_ODOM = std.FRAME_ODOM
FRAME_BASE = std.FRAME_BASE
FRAME_CAMERA = std.FRAME_CAMERA
FRAME_LIDAR = std.FRAME_LIDAR
FRAME_IMU = std.FRAME_IMU
FRAME_GNSS = std.FRAME_GNSS

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
    GT_TRAFFIC_SIGNALS: "autoware_perception_msgs/msg/TrafficLightGroupArray",
    GT_TRAFFIC_LIGHT_ROIS: "vision_msgs/msg/Detection2DArray",
}
