"""`l4 bag info BAG`: topics, types, counts, rates and duration of a rosbag;
`l4 bag reindex DIR`: complete a recording whose writer was killed, as `ros2 bag reindex` does."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bag", help="inspect rosbags")
    actions = p.add_subparsers(dest="bag_command", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="topics, types, counts, rates and duration")
    info.add_argument("bag", type=Path, help="the bag: .bag file, rosbag2 directory, .mcap or .db3")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=run_info)
    reindex = actions.add_parser(
        "reindex",
        help="complete an unfinished mcap recording (killed writer, full disk) in place",
        description="Write the index, summary and footer an unfinished .mcap file lacks (its "
        "last partial record is cut off) and metadata.yaml with the real counts, so that "
        "rosbags, ros2 bag and Foxglove open it. A complete bag only gets metadata.yaml again.",
    )
    reindex.add_argument("bag", type=Path, help="rosbag2 directory (mcap) or a bare .mcap file")
    reindex.set_defaults(func=run_reindex)


def run_info(args: argparse.Namespace) -> int:
    from stack.replay import bag_info

    info = bag_info(args.bag)
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
    else:
        _print(info)
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    from stack.replay.reindex import describe, reindex

    result = reindex(args.bag)  # a ReplayError is printed by `l4`'s one handler
    for line in describe(result):
        print(line)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def _stamp(ns: int) -> str:
    when = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return f"{when:%b %d %Y %H:%M:%S.%f}"[:-3] + f" UTC ({ns / 1e9:.9f})"


def _print(info: Any) -> None:
    from rich.table import Table

    from stack.console import make_console

    console = make_console()
    console.print(f"Path:       {info.path}")
    console.print(f"Format:     {info.format} ({info.storage})")
    console.print(f"Size:       {_size(info.size_bytes)}")
    console.print(f"Duration:   {info.duration_s:.3f} s")
    console.print(f"Start:      {_stamp(info.start_ns)}")
    console.print(f"End:        {_stamp(info.end_ns)}")
    console.print(f"Messages:   {info.messages}")
    if info.unfinished:
        console.print(
            "Status:     [yellow]unfinished[/] (no summary; messages recovered by scanning; "
            f"`l4 bag reindex {info.path}` completes it)"
        )
    table = Table("topic", "type", "count", "rate Hz", "serialization", "definition in bag")
    for t in info.topics:
        table.add_row(
            t.name,
            t.msgtype,
            str(t.count),
            f"{t.rate_hz:.2f}",
            t.serialization,
            "yes" if t.definition_in_bag else "no",
        )
    console.print(table)
