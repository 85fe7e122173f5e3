"""SIMD normalization and running statistics vs numpy (and a plain copy for memory bandwidth).

Run: ``python -m pytest benchmarks/bench_core.py --benchmark-only``. In each group compare
``avemotion`` (the public wrapper), ``core_out`` (the strict kernel writing into a preallocated
array, i.e. what a real-time loop pays), ``numpy`` (``(x - mean) / std``) and, for large shapes,
``copy`` (``np.copyto`` into a preallocated array: the memory-bandwidth bound for one read + one write).
"""

from __future__ import annotations

import numpy as np
import pytest

import avemotion
from avemotion import _core

SHAPES = [(1, 89), (1, 512), (30, 512), (100_000, 89), (200_000, 512)]
LARGE = {(100_000, 89), (200_000, 512)}


def _data(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    mean = x.mean(0)
    std = x.std(0) + 0.1
    return x, mean, std


def _id(shape):
    return f"{shape[0]}x{shape[1]}"


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_normalize_avemotion(benchmark, shape):
    x, mean, std = _data(shape)
    benchmark.group = f"normalize {_id(shape)}"
    benchmark(avemotion.normalize, x, mean, std)


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_normalize_core_out(benchmark, shape):
    x, mean, std = _data(shape)
    m, inv, _ = avemotion.kernels.prepare_stats(mean, std)
    out = np.empty_like(x)
    benchmark.group = f"normalize {_id(shape)}"
    benchmark(_core.normalize, x, m, inv, out, True)


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_normalize_numpy(benchmark, shape):
    x, mean, std = _data(shape)
    benchmark.group = f"normalize {_id(shape)}"
    benchmark(lambda: (x - mean) / std)


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_normalize_numpy_out(benchmark, shape):
    """numpy at its best: two ufunc calls into a preallocated array, no temporaries."""
    x, mean, std = _data(shape)
    out = np.empty_like(x)
    benchmark.group = f"normalize {_id(shape)}"

    def run():
        np.subtract(x, mean, out=out)
        np.divide(out, std, out=out)

    benchmark(run)


@pytest.mark.parametrize("shape", sorted(LARGE), ids=_id)
def test_copy_bandwidth(benchmark, shape):
    x, _, _ = _data(shape)
    out = np.empty_like(x)
    benchmark.group = f"normalize {_id(shape)}"
    benchmark(np.copyto, out, x)


CHUNKS = [(1000, 89), (10_000, 512)]


@pytest.mark.parametrize("shape", CHUNKS, ids=_id)
def test_running_stats_avemotion(benchmark, shape):
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=shape).astype(np.float32) for _ in range(10)]
    benchmark.group = f"stats 10 chunks of {_id(shape)}"

    def run():
        rs = avemotion.RunningStats(shape[1])
        for c in chunks:
            rs.update(c)
        return rs.mean, rs.std

    benchmark(run)


@pytest.mark.parametrize("shape", CHUNKS, ids=_id)
def test_running_stats_numpy(benchmark, shape):
    """numpy needs all chunks at once (not single-pass): concatenate, then mean and std in float64."""
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=shape).astype(np.float32) for _ in range(10)]
    benchmark.group = f"stats 10 chunks of {_id(shape)}"

    def run():
        x = np.concatenate(chunks)
        return x.mean(0, dtype=np.float64), x.std(0, dtype=np.float64)

    benchmark(run)
