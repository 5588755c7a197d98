"""The live buckets' numpy tables (`smythtop.app.sparse`) give what polars' group-bys give on the same rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smythtop.app import sparse


def _grouped(keys: np.ndarray, sums: np.ndarray, maxes: np.ndarray) -> pl.DataFrame:
    frame = pl.DataFrame({"key": keys, "a": sums[:, 0], "b": sums[:, 1], "m": maxes[:, 0]})
    return frame.group_by("key").agg(pl.col("a", "b").sum(), pl.col("m").max()).sort("key")


@pytest.mark.parametrize("seed", [1, 2])
def test_rows_added_in_batches_sum_and_max_per_key_as_one_group_by(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = sparse.Table(2, 1)
    batches = []
    for i in range(6):
        n = int(rng.integers(1, 300))
        keys = rng.integers(-50, 400, n)
        sums, maxes = rng.normal(size=(n, 2)), rng.normal(size=(n, 1))
        if i % 2:  # a partial's rows of one bucket: unique keys, in order
            keys, at = np.unique(keys, return_index=True)
            sums, maxes = sums[at], maxes[at]
        table.add(keys, sums, maxes, ordered=bool(i % 2))
        batches.append((keys, sums, maxes))
    want = _grouped(*(np.concatenate(parts) for parts in zip(*batches, strict=True)))
    assert table.keys.tolist() == want["key"].to_list()
    np.testing.assert_allclose(table.sums, want.select("a", "b").to_numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(table.maxes[:, 0], want["m"].to_numpy())


def test_keep_drops_rows_and_later_adds_find_the_rest() -> None:
    table = sparse.Table(1, 1)
    table.add(np.array([5, 1, 3]), np.array([[1.0], [2.0], [3.0]]), np.array([[0.0], [0.0], [0.0]]))
    table.keep(table.keys != 3)
    table.add(np.array([3, 5]), np.array([[10.0], [10.0]]), np.array([[1.0], [1.0]]))
    assert table.keys.tolist() == [1, 3, 5]
    assert table.sums[:, 0].tolist() == [2.0, 10.0, 11.0]
