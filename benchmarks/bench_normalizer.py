"""normalize_features (cached stats + C++ kernel) against what a user would otherwise write.

Per shape, one group with three cases:
- ``normalize_features``: the public call, stats cached after the first call (one ``stat`` per call);
- ``numpy_preloaded``: ``(x - mean) / std`` with mean/std already in memory (the floor for numpy);
- ``numpy_load_each_call``: the seed's pattern, ``pickle.load`` of the stats file then numpy, per call.

Run: ``pytest benchmarks/bench_normalizer.py --benchmark-only``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from avemotion import feature_normalizer as fn

CASES = {"audio": (1, 89), "video": (30, 512)}


@pytest.fixture(scope="module")
def stats_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stats")
    rng = np.random.default_rng(0)
    for name, (_, dim) in CASES.items():
        fn.save_normalization_stats(rng.normal(size=dim), rng.uniform(0.5, 2, dim), name, d)
    return d


def _data(name: str) -> np.ndarray:
    return np.random.default_rng(1).normal(size=CASES[name]).astype(np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_normalize_features(benchmark, stats_dir: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"normalize_features {CASES[name]}"
    x = _data(name)
    fn.clear_cache()
    out = benchmark(fn.normalize_features, x, name, stats_dir)
    st = fn.load_normalization_stats(name, stats_dir)
    np.testing.assert_allclose(out, (x - st.mean) / st.std, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_preloaded(benchmark, stats_dir: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"normalize_features {CASES[name]}"
    x = _data(name)
    st = fn.load_normalization_stats(name, stats_dir)
    mean, std = st.mean, st.std
    benchmark(lambda: (x - mean) / std)


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_load_each_call(benchmark, stats_dir: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"normalize_features {CASES[name]}"
    x = _data(name)
    path = fn.stats_path(name, stats_dir)

    def seed_style() -> np.ndarray:
        with open(path, "rb") as fh:
            s = pickle.load(fh)
        return (x - s["mean"]) / s["std"]

    benchmark(seed_style)
