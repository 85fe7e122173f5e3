"""avemotion.feature_normalizer: files, safe loading, fallbacks, normalization and statistics."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avemotion
from avemotion import feature_normalizer as fn
from avemotion.kernels import STD_EPS


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the repository's model directory or a strict environment; caches start empty."""
    monkeypatch.setenv("AVEMOTION_MODEL_DIR", str(tmp_path / "default_models"))
    monkeypatch.delenv("AVEMOTION_STRICT", raising=False)
    fn.clear_cache()


def _stats(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, dim).astype(np.float32), rng.uniform(0.5, 2.0, dim).astype(np.float32)


# ----------------------------------------------------------------------------- save / load


def test_round_trip_keeps_values_and_metadata(tmp_path: Path) -> None:
    mean, std = _stats(89)
    path = fn.save_normalization_stats(
        mean, std, name="audio", stats_dir=tmp_path, count=1234, extra={"corpus": "cremad"}
    )
    assert path == tmp_path / "audio_normalization_stats.pkl"
    loaded = fn.load_normalization_stats("audio", tmp_path)
    assert loaded.source == "pickle" and loaded.path == path
    assert loaded.name == "audio" and loaded.dim == 89 and loaded.count == 1234
    assert loaded.mean.dtype == np.float32 and loaded.std.dtype == np.float32
    np.testing.assert_array_equal(loaded.mean, mean)
    np.testing.assert_array_equal(loaded.std, std)
    assert loaded.extra == {"corpus": "cremad"} and loaded.created and loaded.clamped == ()
    with open(path, "rb") as fh:  # the documented content, readable by a plain unpickler too
        raw = pickle.load(fh)
    assert raw["format_version"] == 1 and raw["name"] == "audio" and raw["dim"] == 89
    assert raw["mean"].dtype == np.float32 and raw["std"].dtype == np.float32


def test_save_positional_seed_form_uses_default_dir(tmp_path: Path) -> None:
    mean, std = _stats(89)
    path = fn.save_normalization_stats(mean, std, "audio")
    assert path == tmp_path / "default_models" / "audio_normalization_stats.pkl"
    assert fn.load_normalization_stats("audio").source == "pickle"


def test_save_is_atomic_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mean, std = _stats(89)
    path = fn.save_normalization_stats(mean, std, "audio", tmp_path)
    before = path.read_bytes()

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        fn.save_normalization_stats(mean + 1, std, "audio", tmp_path)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio_normalization_stats.pkl"]


def test_save_rejects_objects_in_extra(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="extra"):
        fn.save_normalization_stats(*_stats(89), "audio", tmp_path, extra={"p": Path("x")})
    assert not (tmp_path / "audio_normalization_stats.pkl").exists()


def test_save_rejects_bad_values(tmp_path: Path) -> None:
    mean, std = _stats(89)
    with pytest.raises(ValueError, match=r"std.*-1"):
        fn.save_normalization_stats(mean, -np.ones(89), "audio", tmp_path)
    with pytest.raises(ValueError, match="finite"):
        fn.save_normalization_stats(np.full(89, np.nan), std, "audio", tmp_path)
    with pytest.raises(ValueError, match="name"):
        fn.save_normalization_stats(mean, std, "../audio", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_legacy_npy_pair(tmp_path: Path) -> None:
    mean, std = _stats(512)
    np.save(tmp_path / "video_mean.npy", mean.astype(np.float64))
    np.save(tmp_path / "video_std.npy", std[None, :])  # (1, D) as some old scripts saved it
    loaded = fn.load_normalization_stats("video", tmp_path)
    assert loaded.source == "legacy_npy" and loaded.count is None and loaded.dim == 512
    np.testing.assert_array_equal(loaded.mean, mean)
    np.testing.assert_array_equal(loaded.std, std)
    x = np.ones((3, 512), np.float32)
    np.testing.assert_allclose(
        fn.normalize_features(x, "video", tmp_path), (x - mean) / std, rtol=1e-6, atol=1e-6
    )


def test_pickle_preferred_over_legacy(tmp_path: Path) -> None:
    np.save(tmp_path / "audio_mean.npy", np.zeros(89))
    np.save(tmp_path / "audio_std.npy", np.ones(89))
    fn.save_normalization_stats(*_stats(89), "audio", tmp_path)
    assert fn.load_normalization_stats("audio", tmp_path).source == "pickle"


def test_legacy_object_npy_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "audio_mean.npy", np.array([object()] * 89), allow_pickle=True)
    np.save(tmp_path / "audio_std.npy", np.ones(89))
    with pytest.raises(fn.StatsFileError, match="audio_mean.npy"):
        fn.load_normalization_stats("audio", tmp_path)


def test_half_legacy_pair_is_an_error(tmp_path: Path) -> None:
    np.save(tmp_path / "audio_mean.npy", np.zeros(89))
    with pytest.raises(fn.StatsFileError, match="audio_std.npy is missing"):
        fn.load_normalization_stats("audio", tmp_path)


@pytest.mark.parametrize(
    ("name", "dim", "mu", "sigma"), [("audio", 89, 0.0, 0.5), ("video", 512, 0.0, 1.0)]
)
def test_fallback_estimates_with_one_warning(
    tmp_path: Path, name: str, dim: int, mu: float, sigma: float
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = fn.load_normalization_stats(name, tmp_path)
    ours = [w for w in caught if issubclass(w.category, fn.FallbackStatsWarning)]
    assert len(ours) == 1 and f"{name}_normalization_stats.pkl" in str(ours[0].message)
    assert str(tmp_path) in str(ours[0].message)
    assert loaded.source == "fallback" and loaded.dim == dim and loaded.count is None
    np.testing.assert_array_equal(loaded.mean, np.full(dim, mu, np.float32))
    np.testing.assert_array_equal(loaded.std, np.full(dim, sigma, np.float32))


def test_normalize_features_warns_once_then_picks_up_new_file(tmp_path: Path) -> None:
    x = np.ones((2, 89), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            np.testing.assert_allclose(fn.normalize_features(x, "audio", tmp_path), x / 0.5)
    assert sum(issubclass(w.category, fn.FallbackStatsWarning) for w in caught) == 1
    mean, std = _stats(89)
    fn.save_normalization_stats(mean, std, "audio", tmp_path)  # a new file replaces the fallback
    np.testing.assert_allclose(
        fn.normalize_features(x, "audio", tmp_path), (x - mean) / std, rtol=1e-6
    )


def test_strict_argument_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="audio_normalization_stats.pkl"):
        fn.load_normalization_stats("audio", tmp_path, strict=True)
    with pytest.raises(FileNotFoundError, match="strict"):
        fn.normalize_features(np.zeros(89), "audio", tmp_path, strict=True)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    with pytest.raises(FileNotFoundError, match="AVEMOTION_STRICT"):
        fn.load_normalization_stats("video", tmp_path)
    with pytest.raises(FileNotFoundError):
        fn.normalize_features(np.zeros(512), "video", tmp_path)
    fn.save_normalization_stats(*_stats(512), "video", tmp_path)
    # strict only removes the fallback
    assert fn.load_normalization_stats("video", tmp_path).source == "pickle"


def test_strict_env_after_cached_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.warns(fn.FallbackStatsWarning):
        fn.normalize_features(np.zeros(89), "audio", tmp_path)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    with pytest.raises(FileNotFoundError):  # a cached fallback does not bypass strict mode
        fn.normalize_features(np.zeros(89), "audio", tmp_path)


def test_environment_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("AVEMOTION_MODEL_DIR", str(other))
    assert fn.default_stats_dir() == other
    path = fn.save_normalization_stats(*_stats(89), name="audio")
    assert path.parent == other
    assert fn.load_normalization_stats("audio").path == path


def test_default_dir_without_env_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVEMOTION_MODEL_DIR")
    d = fn.default_stats_dir()
    assert d.is_absolute() and d.parts[-2:] == ("models", "dynamic_padding_no_leakage")


# ----------------------------------------------------------------------------- unsafe / broken files


class _CreatesFile:
    """Unpickling this calls open(target, "w"): a file appears if the loader executes globals."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.target), "w"))


def test_malicious_pickle_refused_and_file_not_created(tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    payload = {
        "mean": np.zeros(89, np.float32),
        "std": np.ones(89, np.float32),
        "x": _CreatesFile(target),
    }
    path = tmp_path / "audio_normalization_stats.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(fn.UnsafePickleError) as info:
        fn.load_normalization_stats("audio", tmp_path)
    msg = str(info.value)
    assert str(path) in msg and "io.open" in msg
    assert not target.exists()
    with pytest.raises(ValueError):  # also a ValueError, and never a silent fallback
        fn.normalize_features(np.zeros(89), "audio", tmp_path)
    assert not target.exists()
    # the same payload does create the file through a plain pickle.load: the test can fail
    pickle.loads(path.read_bytes())
    assert target.exists()


@pytest.mark.parametrize(
    "glob", [b"cos\nsystem\n", b"csubprocess\ncall\n", b"cnumpy\nload\n", b"cbuiltins\neval\n"]
)
def test_other_globals_refused(tmp_path: Path, glob: bytes) -> None:
    (tmp_path / "video_normalization_stats.pkl").write_bytes(glob + b"(S'echo hi'\ntR.")
    with pytest.raises(fn.UnsafePickleError, match="refused"):
        fn.load_normalization_stats("video", tmp_path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_protocol_load(tmp_path: Path, protocol: int) -> None:
    mean, std = _stats(89)
    payload = {"mean": mean, "std": std.astype(np.float64), "count": np.int64(7), "name": "audio"}
    (tmp_path / "audio_normalization_stats.pkl").write_bytes(
        pickle.dumps(payload, protocol=protocol)
    )
    loaded = fn.load_normalization_stats("audio", tmp_path)
    assert loaded.count == 7 and loaded.std.dtype == np.float32
    np.testing.assert_array_equal(loaded.mean, mean)


def test_numpy1_module_paths_allowed(tmp_path: Path) -> None:
    # numpy 1.x pickles name numpy.core.multiarray; numpy 2 keeps that alias importable.
    data = pickle.dumps(
        {"mean": np.zeros(89, np.float32), "std": np.ones(89, np.float32)}, protocol=2
    )
    assert b"numpy._core.multiarray" in data
    (tmp_path / "audio_normalization_stats.pkl").write_bytes(
        data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert fn.load_normalization_stats("audio", tmp_path).dim == 89


def test_truncated_pickle(tmp_path: Path) -> None:
    path = fn.save_normalization_stats(*_stats(89), "audio", tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(fn.StatsFileError, match="truncated or corrupt") as info:
        fn.load_normalization_stats("audio", tmp_path)
    assert str(path) in str(info.value)
    path.write_bytes(b"")
    with pytest.raises(fn.StatsFileError, match=str(path.name)):
        fn.load_normalization_stats("audio", tmp_path)


def test_malformed_pickle_content(tmp_path: Path) -> None:
    path = tmp_path / "audio_normalization_stats.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(fn.StatsFileError, match="expected a dict"):
        fn.load_normalization_stats("audio", tmp_path)
    path.write_bytes(pickle.dumps({"mean": np.zeros(89)}))
    with pytest.raises(fn.StatsFileError, match="std"):
        fn.load_normalization_stats("audio", tmp_path)
    path.write_bytes(pickle.dumps({"mean": np.zeros(89), "std": np.ones(89), "name": "video"}))
    with pytest.raises(fn.StatsFileError, match="'video'"):
        fn.load_normalization_stats("audio", tmp_path)
    path.write_bytes(pickle.dumps({"mean": np.zeros(89), "std": np.ones(89), "format_version": 99}))
    with pytest.raises(fn.StatsFileError, match="newer"):
        fn.load_normalization_stats("audio", tmp_path)


# ----------------------------------------------------------------------------- dimensions, input forms


def test_wrong_dims_in_file_and_in_input(tmp_path: Path) -> None:
    path = tmp_path / "audio_normalization_stats.pkl"
    path.write_bytes(
        pickle.dumps({"mean": np.zeros(88, np.float32), "std": np.ones(88, np.float32)})
    )
    with pytest.raises(ValueError, match=r"dimension 88.*89"):
        fn.load_normalization_stats("audio", tmp_path)
    with pytest.raises(ValueError, match=r"dimension 88.*89"):
        fn.save_normalization_stats(np.zeros(88), np.ones(88), "audio", tmp_path / "new")
    fn.save_normalization_stats(*_stats(512), "video", tmp_path)
    with pytest.raises(ValueError, match=r"last dimension is 89.*dimension 512") as info:
        fn.normalize_features(np.zeros((4, 89)), "video", tmp_path)
    assert "video_normalization_stats.pkl" in str(info.value)


def test_float64_list_and_shapes(tmp_path: Path) -> None:
    mean, std = _stats(89)
    fn.save_normalization_stats(mean, std, "audio", tmp_path)
    rng = np.random.default_rng(1)
    x64 = rng.normal(size=(2, 5, 89))
    ref = ((x64.astype(np.float32) - mean) / std).astype(np.float32)
    for x, want in [
        (x64, ref),  # (B, T, D) float64
        (x64[0], ref[0]),  # (T, D)
        (x64[0, 0], ref[0, 0]),  # (D,)
        (x64[0].tolist(), ref[0]),  # nested list
        (x64[0, 0].tolist(), ref[0, 0]),  # flat list
        (x64[:, :, :].astype(np.float32)[:, ::2], ref[:, ::2]),  # non-contiguous float32
        (np.zeros((0, 89)), np.zeros((0, 89), np.float32)),  # no steps
    ]:
        got = fn.normalize_features(x, "audio", tmp_path)
        assert got.dtype == np.float32 and got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_input_not_modified_and_bad_inputs(tmp_path: Path) -> None:
    fn.save_normalization_stats(*_stats(89), "audio", tmp_path)
    x = np.ones((3, 89), np.float32)
    keep = x.copy()
    fn.normalize_features(x, "audio", tmp_path)
    np.testing.assert_array_equal(x, keep)
    x[1, 7] = np.nan
    with pytest.raises(ValueError, match=r"finite.*step \(1,\), dim 7"):
        fn.normalize_features(x, "audio", tmp_path)
    with pytest.raises(ValueError, match="finite"):
        fn.normalize_features(np.full(89, np.inf), "audio", tmp_path)
    with pytest.raises(TypeError, match="dtype"):
        fn.normalize_features(np.array(["a"] * 89), "audio", tmp_path)
    with pytest.raises(ValueError, match="scalar"):
        fn.normalize_features(1.0, "audio", tmp_path)
    with pytest.raises(ValueError, match="name"):
        fn.normalize_features(np.zeros(89), "../x", tmp_path)


def test_constant_feature_gets_scale_one_and_a_warning(tmp_path: Path) -> None:
    """scikit-learn's rule (issue 16.9): std < eps -> scale 1, so a deviation of 1 stays 1 (not 1e6)."""
    mean, std = _stats(89)
    std[[3, 10]] = [0.0, 1e-9]
    with pytest.warns(fn.ConstantFeatureWarning, match=r"2 dim\(s\) \[3, 10\]"):
        fn.save_normalization_stats(mean, std, "audio", tmp_path)
    loaded = fn.load_normalization_stats("audio", tmp_path)
    assert loaded.clamped == (3, 10) and loaded.std[3] == 0.0
    x = np.tile(mean, (2, 1))
    x[:, [3, 10]] += 1.0
    out = fn.normalize_features(x, "audio", tmp_path)
    np.testing.assert_allclose(out[:, [3, 10]], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.delete(out, [3, 10], axis=1), 0.0, atol=1e-5)


def test_old_files_with_eps_as_std_read_as_constant(tmp_path: Path) -> None:
    """avemotion 0.1 stored STD_EPS as the std of a constant dim and listed it under 'clamped'."""
    mean, std = _stats(89)
    std[5] = np.float32(STD_EPS)
    payload = {"format_version": 1, "name": "audio", "dim": 89, "mean": mean, "std": std, "clamped": [5]}
    (tmp_path / "audio_normalization_stats.pkl").write_bytes(pickle.dumps(payload))
    loaded = fn.load_normalization_stats("audio", tmp_path)
    assert loaded.clamped == (5,) and loaded.std[5] == 0.0
    x = mean.copy()
    x[5] += 2.0
    assert fn.normalize_features(x, "audio", tmp_path)[5] == pytest.approx(2.0)


def test_cache_rereads_changed_file(tmp_path: Path) -> None:
    x = np.ones((1, 89), np.float32)
    fn.save_normalization_stats(np.zeros(89), np.ones(89), "audio", tmp_path)
    np.testing.assert_allclose(fn.normalize_features(x, "audio", tmp_path), x)
    fn.save_normalization_stats(np.ones(89), np.ones(89), "audio", tmp_path)
    np.testing.assert_allclose(fn.normalize_features(x, "audio", tmp_path), 0 * x)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(0, 2**31 - 1),
    st.floats(-100, 100),
    st.floats(1e-3, 1e3),
)
def test_parity_with_numpy(rows: int, seed: int, loc: float, scale: float) -> None:
    rng = np.random.default_rng(seed)
    mean = rng.normal(loc, scale, 89).astype(np.float32)
    std = rng.uniform(scale / 10, scale, 89).astype(np.float32)
    x = rng.normal(loc, scale, (rows, 89)).astype(np.float32)
    stats = fn.NormalizationStats("audio", mean, std, 89, None, "computed", None)
    np.testing.assert_allclose(
        stats.normalize(x), (x - mean) / std, rtol=1e-5, atol=1e-5 * (1 + abs(loc) / scale)
    )


# ----------------------------------------------------------------------------- compute


def test_compute_matches_numpy_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    seqs = [rng.normal(5, 2, (t, 89)).astype(np.float32) for t in (7, 0, 13, 1)]
    st_ = fn.compute_normalization_stats(seqs, splits=["train"] * 4, name="audio")
    allx = np.concatenate(seqs).astype(np.float64)
    assert st_.source == "computed" and st_.count == 21 and st_.dim == 89
    np.testing.assert_allclose(st_.mean, allx.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st_.std, allx.std(0), rtol=1e-5)
    assert st_.extra["split_counts"] == {"train": 21}
    path = fn.save_normalization_stats(
        st_.mean, st_.std, "audio", tmp_path, count=st_.count, extra=st_.extra
    )
    assert fn.load_normalization_stats("audio", tmp_path).count == 21 and path.exists()


def test_compute_excludes_masked_steps() -> None:
    rng = np.random.default_rng(3)
    seqs, masks, real = [], [], []
    for t in (6, 9):
        x = rng.normal(0, 1, (t, 512)).astype(np.float32)
        m = rng.random(t) < 0.6
        m[0] = True
        x[~m] = 1e6  # would dominate the statistics if it leaked in
        x[~m, 0] = np.nan  # and NaN in masked steps is ignored too
        seqs.append(x)
        masks.append(m)
        real.append(x[m])
    st_ = fn.compute_normalization_stats(seqs, masks, name="video")
    allx = np.concatenate(real).astype(np.float64)
    assert st_.count == len(allx)
    np.testing.assert_allclose(st_.mean, allx.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st_.std, allx.std(0), rtol=1e-5)


def test_compute_train_only_enforced() -> None:
    seqs = [np.ones((2, 89)), np.zeros((3, 89))]
    with pytest.raises(ValueError, match=r"splits\[1\].*'val'.*'train'"):
        fn.compute_normalization_stats(seqs, splits=["train", "val"], name="audio")
    # iterator form: checked as it goes
    with pytest.raises(ValueError, match=r"splits\[1\].*'test'"):
        fn.compute_normalization_stats(iter(seqs), splits=iter(["train", "test"]), name="audio")
    st_ = fn.compute_normalization_stats(
        seqs, splits=["train", "val"], name="audio", allow_other_splits=True
    )
    assert st_.count == 5 and st_.extra["split_counts"] == {"train": 2, "val": 3}
    st2 = fn.compute_normalization_stats(seqs, splits=["val", "val"], split="val", name="audio")
    assert st2.count == 5


def test_compute_from_generator_and_merge_workers() -> None:
    rng = np.random.default_rng(4)
    seqs = [rng.normal(size=(5, 89)) for _ in range(6)]
    whole = fn.compute_normalization_stats((s for s in seqs), name="audio")
    a = avemotion.RunningStats(89)
    for s in seqs[:3]:
        a.update(s)
    b = avemotion.RunningStats(89)
    for s in seqs[3:]:
        b.update(s)
    merged = fn.stats_from_running(a.merge(b), "audio")
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-6)
    np.testing.assert_allclose(merged.std, whole.std, rtol=1e-6)
    cont = fn.compute_normalization_stats(
        seqs[3:], name="audio", running=avemotion.RunningStats(89).update(np.concatenate(seqs[:3]))
    )
    np.testing.assert_allclose(cont.std, whole.std, rtol=1e-6)
    assert whole.extra["split_checked"] is False


def test_compute_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no sequences"):
        fn.compute_normalization_stats([])
    with pytest.raises(ValueError, match="no unmasked steps"):
        fn.compute_normalization_stats([np.ones((2, 89))], [np.zeros(2, bool)])
    with pytest.raises(ValueError, match=r"features\[1\]: dimension is 88, expected 89"):
        fn.compute_normalization_stats([np.ones((2, 89)), np.ones((2, 88))])
    with pytest.raises(ValueError, match=r"features\[0\].*expected the audio feature dimension 89"):
        fn.compute_normalization_stats([np.ones((2, 88))], name="audio")
    with pytest.raises(TypeError, match=r"masks\[0\].*bool"):
        fn.compute_normalization_stats([np.ones((2, 89))], [np.ones(2)])
    with pytest.raises(ValueError, match=r"masks\[0\]: expected shape \(2,\)"):
        fn.compute_normalization_stats([np.ones((2, 89))], [np.ones(3, bool)])
    with pytest.raises(ValueError, match="masks: has fewer"):
        fn.compute_normalization_stats([np.ones((2, 89))] * 2, [None])
    with pytest.raises(ValueError, match="splits: has more"):
        fn.compute_normalization_stats([np.ones((2, 89))], splits=iter(["train", "train"]))
    bad = np.ones((3, 89))
    bad[2, 5] = np.inf
    with pytest.raises(ValueError, match=r"features\[0\]"):
        fn.compute_normalization_stats([bad])


def test_compute_constant_dim_warns_and_scales_by_one() -> None:
    x = np.random.default_rng(5).normal(size=(10, 89))
    x[:, 4] = 3.0
    with pytest.warns(fn.ConstantFeatureWarning, match=r"\[4\]"):
        st_ = fn.compute_normalization_stats([x], name="audio")
    assert st_.clamped == (4,) and st_.std[4] == 0.0
    y = np.zeros((1, 89))
    y[0, 4] = 4.0  # one above the training constant
    assert st_.normalize(y)[0, 4] == pytest.approx(1.0)


def test_compute_array_forms() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(1, 2, (3, 7, 89))
    m = rng.random((3, 7)) < 0.7
    m[:, 0] = True
    x[~m] = np.nan  # masked steps never count
    ref = x[m]
    whole = fn.compute_normalization_stats(x, m, ["train"] * 3, name="audio")  # (B, T, D)
    assert whole.count == len(ref) and whole.extra["split_counts"] == {"train": len(ref)}
    np.testing.assert_allclose(whole.mean, ref.mean(0), rtol=1e-5)
    np.testing.assert_allclose(whole.std, ref.std(0), rtol=1e-5)
    flat = fn.compute_normalization_stats(x.reshape(-1, 89), m.reshape(-1), name="audio")  # (N, D)
    np.testing.assert_allclose(flat.std, whole.std, rtol=1e-6)
    rows = np.array(["train"] * 21)
    rows[5] = "val"
    with pytest.raises(ValueError, match=r"splits\[5\]: step is from split 'val'.*1 of 21"):
        fn.compute_normalization_stats(x.reshape(-1, 89), m.reshape(-1), rows, name="audio")
    with pytest.raises(ValueError, match=r"masks: expected shape \(3, 7\)"):
        fn.compute_normalization_stats(x, m[:, :5], name="audio")
    with pytest.raises(ValueError, match="expected the video feature dimension 512"):
        fn.compute_normalization_stats(x, m, name="video")
