"""Point-cloud map upkeep: lidar sweeps placed by the localization pose and merged into a rolling
voxel map around the vehicle (the map recorder of a mapping run, a low-priority chain)."""

from perception.mapping.voxel_map import VoxelMap, VoxelMapError

__all__ = ["VoxelMap", "VoxelMapError"]
