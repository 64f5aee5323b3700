"""rgbt_seg_ros: the ROS 2 side of rgbt-seg. It only adapts messages; all computation lives in rgbt_seg_core."""
