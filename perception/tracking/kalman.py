"""Batched linear Kalman filters on planar motion, one row per track.

Two motion models share the functions below, told apart by the state size:
- constant velocity (CV), state (x, y, vx, vy), white-noise acceleration;
- constant acceleration (CA), state (x, y, vx, vy, ax, ay), white-noise jerk. A car braking at
  8 m/s^2 is a step in acceleration the CA model follows within a few scans, where a CV filter's
  velocity lags by metres per second for as long as the braking lasts.
Positions are measured; the rest is inferred.
"""

from __future__ import annotations

import numpy as np

CV_DIM, CA_DIM = 4, 6


def measurement_matrix(dim: int) -> np.ndarray:
    """H of a position measurement for a state of ``dim`` (4 or 6)."""
    h = np.zeros((2, dim))
    h[0, 0] = h[1, 1] = 1.0
    return h


H = measurement_matrix(CV_DIM)


def transition(dt: float, dim: int = CV_DIM) -> np.ndarray:
    """F of a step of ``dt`` for a CV (dim 4) or CA (dim 6) state."""
    f = np.eye(dim)
    f[0, 2] = f[1, 3] = dt
    if dim == CA_DIM:
        f[2, 4] = f[3, 5] = dt
        f[0, 4] = f[1, 5] = 0.5 * dt * dt
    return f


def process_noise(dt: float, accel_std: float) -> np.ndarray:
    """Discrete white-noise-acceleration covariance of one axis pair, for a step of ``dt``."""
    q = accel_std**2
    d2, d3, d4 = dt * dt, dt**3, dt**4
    return q * np.array(
        [
            [d4 / 4, 0, d3 / 2, 0],
            [0, d4 / 4, 0, d3 / 2],
            [d3 / 2, 0, d2, 0],
            [0, d3 / 2, 0, d2],
        ]
    )


def process_noise_oriented(
    dt: float, accel_along: float, accel_across: float, heading: np.ndarray
) -> np.ndarray:
    """(N, 4, 4) white-noise-acceleration covariance of CV states whose acceleration std is
    ``accel_along`` along ``heading`` (N,) and ``accel_across`` across it: a car brakes much
    harder than it can move sideways."""
    c, s = np.cos(heading), np.sin(heading)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    acc = rot @ np.diag([accel_along**2, accel_across**2]) @ np.swapaxes(rot, 1, 2)
    q = np.zeros((len(heading), 4, 4))
    q[:, :2, :2] = acc * dt**4 / 4
    q[:, :2, 2:] = q[:, 2:, :2] = acc * dt**3 / 2
    q[:, 2:, 2:] = acc * dt**2
    return q


def process_noise_ca(dt: float, jerk_std: float) -> np.ndarray:
    """Covariance of a step of ``dt`` of a CA state driven by continuous white jerk with spectral
    density ``jerk_std``^2 (m^2/s^5)."""
    axis = jerk_std**2 * np.array(
        [
            [dt**5 / 20, dt**4 / 8, dt**3 / 6],
            [dt**4 / 8, dt**3 / 3, dt**2 / 2],
            [dt**3 / 6, dt**2 / 2, dt],
        ]
    )
    q = np.zeros((CA_DIM, CA_DIM))
    for k in range(2):  # x and y are independent; state order is x, y, vx, vy, ax, ay
        idx = np.array([k, 2 + k, 4 + k])
        q[np.ix_(idx, idx)] = axis
    return q


def predict(
    x: np.ndarray, p: np.ndarray, dt: float, noise_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """Advance states (N, D) and covariances (N, D, D) by ``dt`` seconds; ``noise_std`` is the
    acceleration std of a CV state (D = 4) or the jerk density of a CA one (D = 6)."""
    dim = x.shape[1]
    f = transition(dt, dim)
    q = process_noise(dt, noise_std) if dim == CV_DIM else process_noise_ca(dt, noise_std)
    return x @ f.T, f @ p @ f.T + q


def innovation(
    x: np.ndarray, p: np.ndarray, z: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs residuals (T, D, 2) and innovation covariances (T, D, 2, 2).

    ``x``, ``p``: T track states; ``z`` (D, 2) measured positions with covariances ``r`` (D, 2, 2).
    """
    resid = z[None, :, :] - x[:, None, :2]
    s = p[:, None, :2, :2] + r[None, :, :, :]
    return resid, s


def mahalanobis_sq(resid: np.ndarray, s: np.ndarray) -> np.ndarray:
    """r^T S^-1 r over the trailing dimensions, for any batch shape."""
    return np.einsum("...i,...i->...", resid, np.linalg.solve(s, resid[..., None])[..., 0])


def update(
    x: np.ndarray, p: np.ndarray, z: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Position updates of N tracks with N matched measurements (Joseph form keeps P symmetric)."""
    dim = x.shape[1]
    s = p[:, :2, :2] + r
    gain = p[:, :, :2] @ np.linalg.inv(s)  # (N, D, 2)
    resid = z - x[:, :2]
    x_new = x + np.einsum("nij,nj->ni", gain, resid)
    i_kh = np.eye(dim)[None] - gain @ measurement_matrix(dim)[None]
    p_new = i_kh @ p @ np.swapaxes(i_kh, 1, 2) + gain @ r @ np.swapaxes(gain, 1, 2)
    return x_new, p_new
