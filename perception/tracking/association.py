"""Gated optimal assignment (Hungarian / Jonker-Volgenant via scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

_FORBIDDEN = 1e12


@dataclass(frozen=True)
class Assignment:
    rows: np.ndarray  # matched row indices
    cols: np.ndarray  # their matched column indices
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def gated_assignment(cost: np.ndarray, gate: float | np.ndarray) -> Assignment:
    """The minimum-cost matching of rows to columns using only pairs with cost <= gate."""
    n_rows, n_cols = cost.shape
    allowed = np.isfinite(cost) & (cost <= gate)
    if n_rows == 0 or n_cols == 0 or not allowed.any():
        empty = np.zeros(0, np.int64)
        return Assignment(empty, empty, np.arange(n_rows), np.arange(n_cols))
    rows, cols = linear_sum_assignment(np.where(allowed, cost, _FORBIDDEN))
    ok = allowed[rows, cols]
    rows, cols = rows[ok], cols[ok]
    return Assignment(
        rows,
        cols,
        np.setdiff1d(np.arange(n_rows), rows),
        np.setdiff1d(np.arange(n_cols), cols),
    )
