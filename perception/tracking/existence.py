"""Track existence probability against an estimated clutter density (IPDA-style).

Counting hits confirms a track after ``min_hits`` associated detections wherever it is. In fog or
rain the lidar returns spurious weak points around the sensor that cluster into several "objects"
per sweep, new each sweep; within a few metres of the ego a young track with a loose velocity
finds one of them in its gate on three sweeps running, and the planner brakes for it. Autoware's
multi_object_tracker weighs each measurement by an existence probability; this module does the
same in the integrated-PDA form (Musicki et al., IEEE TAC 1994), with the clutter density
estimated online:

- the **clutter density** (detections per m^2 that no confirmed track explains) is kept per range
  ring around the sensor, smoothed over sweeps: near the ego in fog it is two orders of magnitude
  above a clear day's;
- each sweep a track's existence ``r`` is predicted with a survival probability, then updated:
  with its associated detection by the likelihood ratio ``P_D g / lambda`` (``g`` the Gaussian
  innovation density, ``lambda`` the clutter density where the detection is), without one by
  ``1 - P_D P_G``.

On a clear day ``lambda`` is at its floor and ``r`` passes the confirmation level by the time
``min_hits`` is reached, so tracks confirm as before; where clutter is dense, only a track whose
detections keep landing where its motion predicts gets there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stack.params import in_range, positive, require


@dataclass
class ExistenceConfig:
    enabled: bool = True
    detection_probability: float = 0.9  # P_D of an object in range
    gate_probability: float = 0.999  # P_G of the association gate (chi2 13.8, 2 dof)
    survival_per_s: float = 0.9  # chance an object is still there (in range) 1 s on
    birth_existence: float = 0.1  # r of a track born from one unexplained detection
    confirm_existence: float = 0.9  # r a track needs (besides min_hits) to be published
    delete_existence: float = 0.01  # a track whose r falls below this is deleted
    clutter_floor: float = 1e-3  # per m^2: the least clutter density assumed anywhere
    clutter_smoothing: float = 0.2  # weight of the newest sweep in the density estimate
    # Ring edges (m from the sensor) of the density estimate; the last ring is open-ended.
    ring_edges: list[float] = field(
        default_factory=lambda: [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 13.0, 20.0, 40.0]
    )

    def __post_init__(self) -> None:
        in_range("detection_probability", self.detection_probability, 0.0, 1.0, high_open=True)
        in_range("gate_probability", self.gate_probability, 0.0, 1.0)
        in_range("survival_per_s", self.survival_per_s, 0.0, 1.0)
        in_range("birth_existence", self.birth_existence, 0.0, 1.0, high_open=True)
        in_range("confirm_existence", self.confirm_existence, 0.0, 1.0)
        in_range("delete_existence", self.delete_existence, 0.0, 1.0)
        positive("clutter_floor", self.clutter_floor)
        in_range("clutter_smoothing", self.clutter_smoothing, 0.0, 1.0)
        edges = np.asarray(self.ring_edges, float)
        require(
            len(edges) >= 2 and edges[0] == 0.0 and bool(np.all(np.diff(edges) > 0)),
            "ring_edges",
            self.ring_edges,
            "must be at least two increasing ring edges (m) starting at 0",
        )


MAX_EXISTENCE = 1.0 - 1e-6


class ClutterMap:
    """Clutter density (per m^2) by range ring around the sensor, smoothed over sweeps."""

    def __init__(self, cfg: ExistenceConfig) -> None:
        self.cfg = cfg
        edges = np.asarray(cfg.ring_edges, float)
        self.edges = edges
        # The open last ring is counted out to twice its inner edge (clutter there is rare).
        outer = np.r_[edges[1:], 2.0 * edges[-1]]
        self.area = np.pi * (outer**2 - edges**2)
        self.density = np.full(len(edges), cfg.clutter_floor)

    def ring(self, xy: np.ndarray, sensor_xy: np.ndarray) -> np.ndarray:
        r = np.hypot(xy[:, 0] - sensor_xy[0], xy[:, 1] - sensor_xy[1])
        return np.searchsorted(self.edges, r, side="right") - 1

    def observe(self, unexplained_xy: np.ndarray, sensor_xy: np.ndarray | None) -> None:
        """Fold in one sweep's detections that no confirmed track explains."""
        if sensor_xy is None:
            return
        counts = np.bincount(self.ring(unexplained_xy, sensor_xy), minlength=len(self.edges))
        w = self.cfg.clutter_smoothing
        self.density = (1.0 - w) * self.density + w * counts[: len(self.edges)] / self.area

    def at(self, xy: np.ndarray, sensor_xy: np.ndarray | None) -> np.ndarray:
        """Clutter density at points ``xy`` (N, 2); the floor without a sensor position."""
        if sensor_xy is None:
            return np.full(len(xy), self.cfg.clutter_floor)
        return np.maximum(self.density[self.ring(xy, sensor_xy)], self.cfg.clutter_floor)


def gaussian_density(resid: np.ndarray, s: np.ndarray) -> np.ndarray:
    """N(resid; 0, s) of residuals (N, 2) with covariances (N, 2, 2)."""
    det = np.maximum(np.linalg.det(s), 1e-12)
    m = np.einsum("ni,ni->n", resid, np.linalg.solve(s, resid[..., None])[..., 0])
    return np.exp(-0.5 * m) / (2.0 * np.pi * np.sqrt(det))


def predict(r: np.ndarray, dt: float, cfg: ExistenceConfig) -> np.ndarray:
    """Existence after ``dt`` seconds unobserved."""
    return r * cfg.survival_per_s ** max(dt, 0.0)


def hit(r: np.ndarray, likelihood: np.ndarray, clutter: np.ndarray, cfg: ExistenceConfig):
    """Existence after an associated detection of innovation density ``likelihood`` where the
    clutter density is ``clutter``."""
    delta = cfg.detection_probability * (cfg.gate_probability - likelihood / clutter)
    # Capped below 1: at exactly 1 no run of misses could lower it again.
    return np.minimum((1.0 - delta) * r / (1.0 - delta * r), MAX_EXISTENCE)


def miss(r: np.ndarray, cfg: ExistenceConfig) -> np.ndarray:
    """Existence after a sweep with no detection for the track."""
    delta = cfg.detection_probability * cfg.gate_probability
    return (1.0 - delta) * r / (1.0 - delta * r)


def weigh(
    r: np.ndarray,
    track_xy: np.ndarray,
    track_cov: np.ndarray,
    confirmed: np.ndarray,
    cols: np.ndarray,
    det_xy: np.ndarray,
    det_cov: np.ndarray,
    clutter: ClutterMap,
    sensor_xy: np.ndarray | None,
) -> np.ndarray:
    """One sweep of a tracker: fold the detections (``det_xy`` (D, 2), covariances ``det_cov``)
    that no confirmed track explains into ``clutter``, then return the existence ``r`` of the
    tracks (predicted positions ``track_xy``, covariances ``track_cov``, ``confirmed`` flags)
    updated with their associated detections ``cols`` (before the Kalman update: the innovation
    is the prediction's)."""
    unexplained = np.ones(len(det_xy), bool)
    unexplained[cols[confirmed]] = False
    clutter.observe(det_xy[unexplained], sensor_xy)
    if len(cols) == 0:
        return r
    xy = det_xy[cols]
    likelihood = gaussian_density(xy - track_xy, track_cov + det_cov[cols])
    return hit(r, likelihood, clutter.at(xy, sensor_xy), clutter.cfg)
