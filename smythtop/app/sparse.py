"""Keyed sums held in numpy: what the live buckets merge each tick's new aggregates into (`smythtop.app.live`).

A `Table` holds rows keyed by one int64, sorted and unique, each with float64 sums and optionally float64 maxima.
`add` merges rows in (any order, keys repeated): a `np.unique` of the new keys, a `searchsorted` into the kept
ones, in-place adds (and maxima) for the keys found, one `np.insert` for the others. This is the group-by of the
kept rows and the new ones that polars ran each tick (`partial.merge`, `partial.added`), without its cost: each
polars query costs a fixed ~0.3-0.8 ms on this machine and re-grouped every kept row (a live window's current
bucket holds ~25K sketch rows, the window-wide histogram ~40K), where here a tick's cost follows its new rows
(measured on the bench's live window, 5K new frames a tick: merge, split, views and the window's histogram went
from ~45 ms to ~5 ms of a tick).
"""

from __future__ import annotations

import numpy as np


class Table:
    """Rows keyed by int64 (sorted, unique): `sums[i]` are added, `maxes[i]` keep the largest value seen."""

    def __init__(self, n_sums: int, n_maxes: int = 0) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.sums = np.empty((0, n_sums), dtype=np.float64)
        self.maxes = np.empty((0, n_maxes), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.keys)

    def add(
        self, keys: np.ndarray, sums: np.ndarray, maxes: np.ndarray | None = None, *, ordered: bool = False
    ) -> None:
        """Merge rows in: `sums` (n x n_sums) added per key, `maxes` (n x n_maxes; None for a table without maxima)
        maxed per key. `ordered`: the keys are already sorted and unique (a partial's rows of one bucket:
        `of_frames` groups them), which skips their grouping, most of the cost of adding a whole window at once."""
        if not len(keys):
            return
        if maxes is None:
            maxes = np.empty((len(keys), 0))
        if ordered:
            new, summed, maxed = keys, sums, maxes
        else:
            new, at = np.unique(keys, return_inverse=True)
            summed = np.zeros((len(new), self.sums.shape[1]))
            np.add.at(summed, at, sums)
            maxed = np.full((len(new), self.maxes.shape[1]), -np.inf)
            np.maximum.at(maxed, at, maxes)
        if not len(self.keys):
            self.keys, self.sums, self.maxes = new.copy(), summed.copy(), maxed.copy()
            return
        pos = np.searchsorted(self.keys, new)
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == new[found]
        kept = pos[found]
        self.sums[kept] += summed[found]
        self.maxes[kept] = np.maximum(self.maxes[kept], maxed[found])
        if not found.all():
            fresh = ~found
            self.keys = np.insert(self.keys, pos[fresh], new[fresh])
            self.sums = np.insert(self.sums, pos[fresh], summed[fresh], axis=0)
            self.maxes = np.insert(self.maxes, pos[fresh], maxed[fresh], axis=0)

    def keep(self, mask: np.ndarray) -> None:
        """Only the rows where `mask` holds."""
        if not mask.all():
            self.keys, self.sums, self.maxes = self.keys[mask], self.sums[mask], self.maxes[mask]


def regroup(keys: np.ndarray, w: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows merged per key (sorted): weights summed, values maxed."""
    new, at = np.unique(keys, return_inverse=True)
    summed = np.bincount(at, weights=w, minlength=len(new))
    maxed = np.full(len(new), -np.inf)
    np.maximum.at(maxed, at, v)
    return new, summed, maxed
