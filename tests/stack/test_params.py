"""Parameter checks name the field and its value; the launch layer adds file and key path."""

from __future__ import annotations

import enum

import pytest

from stack.errors import L4Error, ParamError
from stack.graph import GraphError, parse_graph
from stack.params import at_least, in_range, interval, length, non_negative, parse_enum, positive


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: positive("gnss_std", -1.0), r"^gnss_std must be > 0 \(got -1\.0\)$"),
        (lambda: positive("gnss_std", 0), r"^gnss_std must be > 0 \(got 0\)$"),
        (
            lambda: positive("rate_hz", float("nan")),
            r"^rate_hz must be a finite number \(got nan\)$",
        ),
        (
            lambda: positive("rate_hz", float("inf")),
            r"^rate_hz must be a finite number \(got inf\)$",
        ),
        (lambda: non_negative("work_ms", -2), r"^work_ms must be >= 0 \(got -2\)$"),
        (lambda: at_least("depth", 0, 1), r"^depth must be >= 1 \(got 0\)$"),
        (lambda: in_range("png_level", 10, 0, 9), r"^png_level must lie in \[0, 9\] \(got 10\)$"),
        (
            lambda: in_range("rear_overhang", 5.0, 0.0, 4.7, high_open=True),
            r"^rear_overhang must lie in \[0\.0, 4\.7\) \(got 5\.0\)$",
        ),
        (
            lambda: interval("crop_x", [3.0, 1.0]),
            r"^crop_x must be \(low, high\) with low < high \(got \(3\.0, 1\.0\)\)$",
        ),
        (lambda: length("initial_pose", [1.0], 3, "[x, y, yaw]"), r"initial_pose must be \[x, y"),
        (
            lambda: parse_enum(Color, "green", "color"),
            r"^color='green' is not one of 'red', 'blue'$",
        ),
    ],
)
def test_each_check_names_field_and_value(check, message) -> None:
    with pytest.raises(ParamError, match=message):
        check()


def test_checks_pass_good_values_and_parse_enum_takes_members() -> None:
    positive("x", 1e-9)
    non_negative("x", 0)
    in_range("x", 9, 0, 9)
    assert parse_enum(Color, "red", "color") is Color.RED
    assert parse_enum(Color, Color.BLUE, "color") is Color.BLUE


def test_parse_enum_raises_the_subsystem_error() -> None:
    class EngineLikeError(L4Error):
        pass

    with pytest.raises(EngineLikeError, match="backend='trt'"):
        parse_enum(Color, "trt", "backend", EngineLikeError)


# A node's bad parameter in a launch file: the message names file, key path, field and value,
# with nothing about the fields that are fine.
@pytest.mark.parametrize(
    ("node", "params", "message"),
    [
        (
            "perception.localization.node:EkfLocalizer",
            "gnss_std: -1.0",
            r"params: gnss_std must be > 0 \(got -1\.0\)$",
        ),
        (
            "perception.localization.node:EkfLocalizer",
            "init_distance_m: 0",
            r"params: init_distance_m must be > 0 \(got 0\)$",
        ),
        (
            "perception.tracking.node:ObjectTracker",
            "lidar_timeout_s: -0.5",
            r"params: lidar_timeout_s must be >= 0 \(got -0\.5\)$",
        ),
        (
            "perception.tracking.node:ObjectTracker",
            "tracker: {min_hits: 0}",
            r"params\.tracker: min_hits must be >= 1 \(got 0\)$",
        ),
        (
            "perception.lidar.node:LidarObstacles",
            "crop_x: [5.0, 1.0]",
            r"params: crop_x must be \(low, high\) with low < high \(got \(5\.0, 1\.0\)\)$",
        ),
        (
            "perception.detector.node:CameraDetector",
            "precision: bf16",
            r"params: precision='bf16' is not one of 'fp32', 'fp16', 'int8'$",
        ),
        (
            "planning.node:PlannerNode",
            "horizon_s: 0",
            r"params: horizon_s must be > 0 \(got 0\)$",
        ),
        (
            "planning.node:PlannerNode",
            "vehicle: {width: -1.0}",
            r"params\.vehicle: width must be > 0 \(got -1\.0\)$",
        ),
        (
            "planning.control.node:Controller",
            "lateral: {min_lookahead: 30.0}",
            r"params\.lateral: max_lookahead must be >= 30\.0 \(got 25\.0\)$",
        ),
        (
            "stack.nodes.watchdog:ControlWatchdog",
            "deadline_ms: .inf",
            r"params: deadline_ms must be a finite number \(got inf\)$",
        ),
    ],
)
def test_launch_file_names_file_key_field_and_value(node: str, params: str, message: str) -> None:
    text = f"nodes:\n  n1: {{class: {node}, params: {{{params}}}}}\n"
    with pytest.raises(GraphError, match=r"^g\.yaml: nodes\.n1\." + message):
        parse_graph(text, "g.yaml")
