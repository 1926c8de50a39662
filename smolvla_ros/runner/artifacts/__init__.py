"""What a run leaves behind: the MP4 (``video``), the PNG plots (``plots``), ``metrics.json``
(``metrics``) and the rosbag2 in MCAP storage (``bag``)."""
