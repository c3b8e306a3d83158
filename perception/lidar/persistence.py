"""Tracking persistence as a structure cue: what stays put in the map frame is structure, what
moves is a road user.

The shape cues of structure.py judge one sweep. Across sweeps, with the ego pose, each cluster
box is followed in the map frame (nearest neighbour within a gate around the predicted place),
and a static memory holds the map-frame cells the non-ground returns occupied recently:

- a box whose track has **moved** -- seen moving steadily ``min_hits`` sweeps in a row, with its
  returns off the cells static returns occupied ``baseline_s`` to ``history_s`` before -- is
  never structure, even when a shape cue fires (a car under an overhanging tree, a pedestrian
  passing a pole); a structure box holding such a track's predicted place is kept too (the
  pedestrian merged with the pole);
- a box whose **static** track the shape cues marked in ``sticky_votes`` earlier sweeps stays
  structure when this sweep's cue misses it (a wall seen shorter, a pole with fewer returns).

A facade whose visible part slides along with the ego has a steadily moving centroid, but its
returns land where returns were before: the static memory is what keeps it structure. Boxes
longer than ``max_mover_length`` or sparser than ``min_points`` are never movers. Without an
ego pose the shape cues decide alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.geometry import Pose2D
from perception.lidar.boxes import BoxFit
from stack.params import at_least, in_range, interval, positive


@dataclass
class PersistenceConfig:
    enabled: bool = True
    gate_m: float = 2.0  # association gate around a track's predicted place
    new_track_speed: float = 15.0  # m/s a one-sweep track may have moved (its gate grows so)
    # A track has moved once it was seen moving steadily this many sweeps in a row: between
    # min_speed and max_speed, in the direction of its smoothed velocity (clusters that hop
    # between fence posts or slide along a wall do not).
    min_hits: int = 4
    min_speed: float = 1.0  # m/s
    max_speed: float = 40.0  # m/s
    min_points: int = 6  # sparser clusters are never movers
    max_missed: int = 4  # sweeps a track coasts unseen before it is dropped
    sticky_votes: int = 2  # shape-cue marks that keep a static track structure
    max_mover_length: float = 12.0  # longer boxes (walls, buildings) are never movers
    merge_max_length: float = 6.0  # structure boxes a mover may have merged into (a pole, a tree)
    # Static memory: the map-frame cells the non-ground returns occupied in earlier sweeps. A
    # cluster whose returns land where returns were ``baseline_s`` to ``history_s`` ago is
    # static there (a facade whose visible part slides along with the ego is); a moving road
    # user's are not (1.4 m/s over 0.6 s: 0.8 m, more than a cell).
    cell_m: float = 0.5
    baseline_s: float = 0.6
    history_s: float = 1.5
    max_static_share: float = 0.2  # a mover has at most this share of its returns on old cells
    merge_margin: float = 0.5  # m around a structure box where a moving track's place is sought

    def __post_init__(self) -> None:
        for name in (
            "gate_m",
            "min_speed",
            "max_speed",
            "max_mover_length",
            "new_track_speed",
            "cell_m",
            "history_s",
        ):
            positive(f"structure.persistence.{name}", getattr(self, name))
        at_least("structure.persistence.min_hits", self.min_hits, 2)
        at_least("structure.persistence.max_missed", self.max_missed, 0)
        at_least("structure.persistence.sticky_votes", self.sticky_votes, 1)
        interval("structure.persistence.baseline_s..history_s", (self.baseline_s, self.history_s))
        in_range("structure.persistence.max_static_share", self.max_static_share, 0.0, 1.0)


_SLOTS = 512  # cells per side of the memory's torus: 256 m at 0.5 m, over twice the crop


class StaticMemory:
    """For each map-frame cell the recent non-ground returns fell in: since when it has been
    occupied (this run) and when last. Held on a torus of cell slots that rolls with the ego, so
    an update or a query is a few array look-ups per return, with no sorting."""

    def __init__(self, cfg: PersistenceConfig) -> None:
        self.cfg = cfg
        self.cell = np.full((_SLOTS, _SLOTS, 2), np.iinfo(np.int64).min, np.int64)
        self.since = np.zeros((_SLOTS, _SLOTS), np.int64)
        self.last = np.full((_SLOTS, _SLOTS), np.iinfo(np.int64).min, np.int64)
        self.first_ns: int | None = None  # start of the sweeps held without a gap
        self.last_add_ns: int | None = None

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) integer cells of map-frame points."""
        return np.floor(xy / self.cfg.cell_m).astype(np.int64)

    def _slots(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i, j = cells[:, 0] % _SLOTS, cells[:, 1] % _SLOTS
        same = np.all(self.cell[i, j] == cells, axis=1)
        return i, j, same

    def static_share(
        self, stamp_ns: int, cells: np.ndarray, labels: np.ndarray, k: int
    ) -> np.ndarray:
        """Per cluster, the share of its returns on cells occupied ``baseline_s`` to
        ``history_s`` ago; NaN where the memory does not reach back that far."""
        lo = stamp_ns - int(self.cfg.history_s * 1e9)
        hi = stamp_ns - int(self.cfg.baseline_s * 1e9)
        if self.first_ns is None or self.first_ns > hi or k == 0:
            return np.full(k, np.nan)
        member = labels >= 0
        i, j, same = self._slots(cells[member])
        seen = same & (self.since[i, j] <= hi) & (self.last[i, j] >= lo)
        counts = np.bincount(labels[member], minlength=k)
        return np.bincount(labels[member], weights=seen, minlength=k) / np.maximum(counts, 1)

    def add(self, stamp_ns: int, cells: np.ndarray) -> None:
        history = int(self.cfg.history_s * 1e9)
        if self.last_add_ns is None or stamp_ns - self.last_add_ns > history:
            self.first_ns = stamp_ns  # after a gap it knows nothing older: no verdict yet
        self.last_add_ns = stamp_ns
        i, j, same = self._slots(cells)
        ongoing = same & (self.last[i, j] >= stamp_ns - history)
        self.since[i, j] = np.where(ongoing, self.since[i, j], stamp_ns)
        self.last[i, j] = stamp_ns
        self.cell[i, j] = cells


class StructurePersistence:
    """Tracks of cluster boxes in the map frame; refines the per-sweep structure mask."""

    def __init__(self, cfg: PersistenceConfig) -> None:
        self.cfg = cfg
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.steady = np.zeros(0, int)  # sweeps in a row seen moving steadily
        self.hits = np.zeros(0, int)
        self.missed = np.zeros(0, int)
        self.votes = np.zeros(0, int)
        self.moved = np.zeros(0, bool)
        self.last_ns: int | None = None
        self.memory = StaticMemory(cfg)

    def __len__(self) -> int:
        return len(self.pos)

    def refine(
        self,
        stamp_ns: int,
        ego: Pose2D | None,
        points: np.ndarray,
        labels: np.ndarray,
        fit: BoxFit,
        cue: np.ndarray,
    ) -> np.ndarray:
        """The structure mask of ``fit``'s boxes given the shape cues' ``cue``; ``points``
        (base_link) are the clustered non-ground returns, ``labels`` their cluster (-1: none)."""
        if ego is None or not self.cfg.enabled:
            return cue
        if self.last_ns is not None and stamp_ns <= self.last_ns:
            return cue  # out of order: judge it by shape alone, keep the tracks as they are
        dt = 0.0 if self.last_ns is None else (stamp_ns - self.last_ns) * 1e-9
        self.last_ns = stamp_ns
        cells = self.memory.cells(ego.apply(points[:, :2]) if len(points) else np.zeros((0, 2)))
        share = self.memory.static_share(stamp_ns, cells, labels, len(cue))
        self.memory.add(stamp_ns, cells)
        xy = ego.apply(fit.center[:, :2]) if len(cue) else np.zeros((0, 2))
        predicted = self.pos + self.vel * dt
        track_of = self._associate(xy, predicted, dt)
        unmatched_movers = np.setdiff1d(np.flatnonzero(self.moved), track_of)
        coasting = predicted[unmatched_movers]  # moving tracks no box of their own took
        self._update(xy, predicted, track_of, dt, cue, share <= self.cfg.max_static_share)
        mover = self._mover_shape(fit)
        out = cue.copy()
        for k in np.flatnonzero(track_of >= 0):
            t = track_of[k]
            if self.moved[t] and mover[k]:
                out[k] = False
            elif (
                not self.moved[t]
                and share[k] >= 0.5
                and self.votes[t] - int(cue[k]) >= self.cfg.sticky_votes
            ):
                out[k] = True
        return out & ~self._holds_mover(fit, ego, coasting, out)

    def _associate(self, xy: np.ndarray, predicted: np.ndarray, dt: float) -> np.ndarray:
        """Per box, its track index (-1: new), greedy nearest pairs within the gate."""
        track_of = np.full(len(xy), -1)
        if len(xy) == 0 or len(predicted) == 0:
            return track_of
        dist = np.hypot(*(xy[:, None, :] - predicted[None, :, :]).transpose(2, 0, 1))
        gate = self.cfg.gate_m + np.where(self.hits < 2, self.cfg.new_track_speed * dt, 0.0)
        k_idx, t_idx = np.nonzero(dist <= gate[None, :])
        order = np.argsort(dist[k_idx, t_idx], kind="stable")
        taken = np.zeros(len(predicted), bool)
        for k, t in zip(k_idx[order], t_idx[order]):
            if track_of[k] < 0 and not taken[t]:
                track_of[k], taken[t] = t, True
        return track_of

    def _update(
        self,
        xy: np.ndarray,
        predicted: np.ndarray,
        track_of: np.ndarray,
        dt: float,
        cue: np.ndarray,
        off_old_cells: np.ndarray,
    ) -> None:
        matched = track_of >= 0
        t = track_of[matched]
        if dt > 0 and len(t):
            measured = (xy[matched] - self.pos[t]) / dt
            young = (self.hits[t] < 2)[:, None]
            smoothed = np.where(young, measured, 0.5 * self.vel[t] + 0.5 * measured)
            speed = np.hypot(*measured.T)
            along = np.sum(measured * smoothed, 1) / np.maximum(speed * np.hypot(*smoothed.T), 1e-9)
            steady = (
                (speed >= self.cfg.min_speed)
                & (speed <= self.cfg.max_speed)
                & (along > 0.7)
                & off_old_cells[matched]
            )
            self.steady[t] = np.where(steady, self.steady[t] + 1, 0)
            self.vel[t] = smoothed
        self.pos = predicted
        self.pos[t] = xy[matched]
        self.hits[t] += 1
        self.votes[t] += cue[matched].astype(int)
        self.moved[t] |= self.steady[t] >= self.cfg.min_hits
        unseen = np.ones(len(self.pos), bool)
        unseen[t] = False
        self.missed[unseen] += 1
        self.missed[t] = 0
        keep = self.missed <= self.cfg.max_missed
        new = xy[~matched]
        self.pos = np.concatenate([self.pos[keep], new])
        self.vel = np.concatenate([self.vel[keep], np.zeros_like(new)])
        self.steady = np.concatenate([self.steady[keep], np.zeros(len(new), int)])
        self.hits = np.concatenate([self.hits[keep], np.ones(len(new), int)])
        self.missed = np.concatenate([self.missed[keep], np.zeros(len(new), int)])
        self.votes = np.concatenate([self.votes[keep], cue[~matched].astype(int)])
        self.moved = np.concatenate([self.moved[keep], np.zeros(len(new), bool)])
        # indices into the kept arrays, for the caller's decisions this sweep
        remap = np.cumsum(keep) - 1
        track_of[matched] = remap[t]
        track_of[~matched] = np.arange(len(new)) + int(keep.sum())

    def _mover_shape(self, fit: BoxFit) -> np.ndarray:
        return (fit.dims[:, 0] <= self.cfg.max_mover_length) & (
            fit.num_points >= self.cfg.min_points
        )

    def _holds_mover(
        self, fit: BoxFit, ego: Pose2D, coasting: np.ndarray, structure: np.ndarray
    ) -> np.ndarray:
        """Structure boxes with a coasting moving track's place inside (a road user merged
        into them)."""
        out = np.zeros(len(structure), bool)
        boxes = np.flatnonzero(structure & (fit.dims[:, 0] <= self.cfg.merge_max_length))
        if len(coasting) == 0 or len(boxes) == 0:
            return out
        local = ego.inverse().apply(coasting)  # (M, 2) in base_link
        c, s = np.cos(fit.yaw[boxes])[:, None], np.sin(fit.yaw[boxes])[:, None]
        dx = local[None, :, 0] - fit.center[boxes, 0][:, None]
        dy = local[None, :, 1] - fit.center[boxes, 1][:, None]
        half_l = fit.dims[boxes, 0:1] / 2 + self.cfg.merge_margin
        half_w = fit.dims[boxes, 1:2] / 2 + self.cfg.merge_margin
        inside = (np.abs(dx * c + dy * s) <= half_l) & (np.abs(dy * c - dx * s) <= half_w)
        out[boxes] = inside.any(1)
        return out
