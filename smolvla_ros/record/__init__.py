"""smolvla-record: simulator demonstrations as LeRobot v3.0 datasets (ROS-free)."""
