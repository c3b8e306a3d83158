"""rclpy adapter: the same Node classes as real ROS 2 nodes.

Imported only where rclpy exists (a ROS 2 Humble install on the vehicle); nothing else in the
stack imports this package.
"""
