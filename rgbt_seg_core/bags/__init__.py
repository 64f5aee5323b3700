"""rosbag2 tools without a ROS install (rosbags): data set -> bag, bag -> images, offline bag evaluation."""
