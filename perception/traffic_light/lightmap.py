"""The light map: signal heads, their stop lines and lanes, as tools.scenario writes map.npz.

``LightState`` numbers follow autoware_perception_msgs/TrafficLightElement's colour constants
(UNKNOWN 0, RED 1, AMBER 2, GREEN 3), so a state is a message colour as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from perception.errors import PerceptionError

# map.npz keys (written by tools.scenario.signals.save_light_map)
HEAD_XYZ = "light_head_xyz"  # (H,3) housing centre in map
HEAD_YAW = "light_head_yaw"  # (H,) the direction the lamps face
HEAD_SIZE = "light_head_size"  # (H,3) depth, width, height
HEAD_GROUP = "light_head_group"  # (H,) traffic_light_group_id
STOP_LINE = "light_stop_line"  # (H,2,2) the stop line's two ends in map
LANES = "light_lanes"  # (H,4) bool: lanes the head controls


class LightState(IntEnum):
    UNKNOWN = 0
    RED = 1
    AMBER = 2
    GREEN = 3


# The classifier's output order (index -> state); UNKNOWN last, as "no lit lamp seen".
CLASS_STATES: tuple[LightState, ...] = (
    LightState.RED,
    LightState.AMBER,
    LightState.GREEN,
    LightState.UNKNOWN,
)


class LightMapError(PerceptionError):
    """A light map that cannot be read (file, key)."""


@dataclass(frozen=True)
class LightMap:
    head_xyz: np.ndarray
    head_yaw: np.ndarray
    head_size: np.ndarray
    head_group: np.ndarray
    stop_line: np.ndarray
    lanes: np.ndarray

    def __len__(self) -> int:
        return len(self.head_group)

    @property
    def stop_center(self) -> np.ndarray:
        """(H,2) middle of each head's stop line."""
        return self.stop_line.mean(axis=1)


def load_light_map(path: str | Path) -> LightMap | None:
    """The heads in ``path`` (map.npz), or None when it has none (a map without lights).

    Raises LightMapError naming the file and key for a file that is unreadable or whose
    arrays disagree in length."""
    path = Path(path)
    try:
        with np.load(path) as data:
            if HEAD_XYZ not in data.files:
                return None
            arrays = {
                k: data[k] for k in (HEAD_XYZ, HEAD_YAW, HEAD_SIZE, HEAD_GROUP, STOP_LINE, LANES)
            }
    except (OSError, ValueError) as exc:
        raise LightMapError(f"{path}: cannot read the light map: {exc}") from exc
    except KeyError as exc:
        raise LightMapError(f"{path}: light map lacks key {exc}") from exc
    return light_map_from_arrays(arrays, str(path))


def light_map_from_arrays(arrays: Mapping[str, np.ndarray], where: str = "light map") -> LightMap:
    """The heads in a map's light arrays (keys HEAD_XYZ .. LANES), as ``load_light_map`` reads
    them from a file. Raises LightMapError naming ``where`` and the key for arrays that disagree
    in length."""
    n = len(arrays[HEAD_XYZ])
    for key, arr in arrays.items():
        if len(arr) != n:
            raise LightMapError(f"{where}: {key} has {len(arr)} rows, {HEAD_XYZ} has {n}")
    return LightMap(
        head_xyz=arrays[HEAD_XYZ].astype(np.float64),
        head_yaw=arrays[HEAD_YAW].astype(np.float64),
        head_size=arrays[HEAD_SIZE].astype(np.float64),
        head_group=arrays[HEAD_GROUP].astype(np.int64),
        stop_line=arrays[STOP_LINE].astype(np.float64),
        lanes=arrays[LANES].astype(bool),
    )
