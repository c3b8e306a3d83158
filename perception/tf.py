"""Frames: a static transform tree from /tf_static (tf2_msgs/TFMessage), for sensor
extrinsics, and the check that an input is in the frame a node works in."""

from __future__ import annotations

from typing import Any

import numpy as np

from perception.geometry import RigidTransform
from stack.events import EventKind


class StaticTransforms:
    """Parent links from tf_static, composed on lookup (trees here are a few frames deep).

    Lookups are memoised until the tree changes: nodes look up the same sensor extrinsic on
    every message, while tf_static arrives once.
    """

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, RigidTransform]] = {}
        self._cache: dict[tuple[str, str], RigidTransform | None] = {}

    def __len__(self) -> int:
        return len(self._parent)

    def add_message(self, msg: Any) -> list[str]:
        """Add every transform of a TFMessage; returns the problems of the ones skipped."""
        problems = []
        for ts in msg.transforms:
            child, parent = ts.child_frame_id.lstrip("/"), ts.header.frame_id.lstrip("/")
            try:
                self._parent[child] = (parent, RigidTransform.from_msg(ts.transform))
            except ValueError as exc:
                problems.append(f"{parent}->{child}: {exc}")
        self._cache.clear()
        return problems

    def set(self, parent: str, child: str, transform: RigidTransform) -> None:
        self._parent[child.lstrip("/")] = (parent.lstrip("/"), transform)
        self._cache.clear()

    def _to_root(self, frame: str) -> list[tuple[str, RigidTransform]]:
        chain = [(frame, RigidTransform.identity())]
        seen = {frame}
        while frame in self._parent:
            frame, link = self._parent[frame]
            if frame in seen:
                break  # a cycle in a malformed tf tree
            seen.add(frame)
            chain.append((frame, link))
        return chain

    def lookup(self, target: str, source: str) -> RigidTransform | None:
        """The transform mapping points in ``source`` into ``target``; None if not connected."""
        key = (target.lstrip("/"), source.lstrip("/"))
        if key not in self._cache:
            self._cache[key] = self._compose(*key)
        return self._cache[key]

    def _compose(self, target: str, source: str) -> RigidTransform | None:
        if target == source:
            return RigidTransform.identity()
        up_source = self._to_root(source)
        up_target = self._to_root(target)
        target_frames = {f: i for i, (f, _) in enumerate(up_target)}
        rot, trans = np.eye(3), np.zeros(3)
        for frame, link in up_source:
            rot, trans = link.rotation @ rot, link.rotation @ trans + link.translation
            if frame in target_frames:
                break
        else:
            return None
        # Now in the common ancestor `frame`; descend to target by inverting its links.
        t_rot, t_trans = np.eye(3), np.zeros(3)
        for _, link in up_target[1 : target_frames[frame] + 1]:
            t_rot, t_trans = link.rotation @ t_rot, link.rotation @ t_trans + link.translation
        inv_rot = t_rot.T
        return RigidTransform(inv_rot @ rot, inv_rot @ (trans - t_trans))


def frame_of(msg: Any) -> str:
    """A stamped message's frame, without the leading slash tf2 also accepts."""
    return msg.header.frame_id.lstrip("/")


def in_frame(ctx: Any, topic: str, msg: Any, frame: str) -> bool:
    """Whether ``msg`` is in ``frame``; if not, its drop is traced naming both frames."""
    if frame_of(msg) == frame:
        return True
    ctx.event(EventKind.DROP, f"{topic}: frame {msg.header.frame_id!r} is not {frame!r}")
    return False
