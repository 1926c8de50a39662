"""Thin rclpy nodes over the ROS-free core. The only place in the suite that imports ROS."""
