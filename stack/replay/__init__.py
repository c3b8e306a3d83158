"""Rosbag player and recorder: replay a bag through a launch graph on simulated time.

``Bag`` opens ROS 1 .bag files, rosbag2 directories (sqlite3, mcap) and bare .mcap / .db3 files;
``Player`` drives a graph from it (lockstep or paced at a rate) and records what the graph
publishes into a new rosbag2 (mcap); ``bag_info`` is what `l4 bag info` shows.
"""

from stack.replay.bag import Bag, BagFormat, BagTopic
from stack.replay.errors import ReplayError
from stack.replay.info import BagInfo, bag_info
from stack.replay.player import OUTPUTS, Player, ReplayOptions, ReplayResult

__all__ = [
    "OUTPUTS",
    "Bag",
    "BagFormat",
    "BagInfo",
    "BagTopic",
    "Player",
    "ReplayError",
    "ReplayOptions",
    "ReplayResult",
    "bag_info",
]
