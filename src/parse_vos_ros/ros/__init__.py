"""The rclpy node, message conversions and rosbag tools (the only place that imports ROS)."""
