"""Errors of the rosbag player and recorder."""

from stack.errors import L4Error


class ReplayError(L4Error):
    """A bag or launch file that cannot be replayed; the message names the file and the problem."""
