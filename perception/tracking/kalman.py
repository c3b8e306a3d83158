"""Batched constant-velocity Kalman filter on state (x, y, vx, vy), one row per track."""

from __future__ import annotations

import numpy as np

H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])


def transition(dt: float) -> np.ndarray:
    f = np.eye(4)
    f[0, 2] = f[1, 3] = dt
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


def predict(
    x: np.ndarray, p: np.ndarray, dt: float, accel_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """Advance states (N, 4) and covariances (N, 4, 4) by ``dt`` seconds."""
    f = transition(dt)
    return x @ f.T, f @ p @ f.T + process_noise(dt, accel_std)


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
    s = p[:, :2, :2] + r
    gain = p[:, :, :2] @ np.linalg.inv(s)  # (N, 4, 2)
    resid = z - x[:, :2]
    x_new = x + np.einsum("nij,nj->ni", gain, resid)
    i_kh = np.eye(4)[None] - gain @ H[None]
    p_new = i_kh @ p @ np.swapaxes(i_kh, 1, 2) + gain @ r @ np.swapaxes(gain, 1, 2)
    return x_new, p_new
