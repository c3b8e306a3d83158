"""Lidar obstacle detection: point cloud -> cropped, downsampled, ground-free clusters -> boxes."""
