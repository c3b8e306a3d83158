"""Errors of the rosbag player and recorder."""


class ReplayError(Exception):
    """A bag or launch file that cannot be replayed; the message names the file and the problem."""
