"""The C++ core's normalization and running statistics against numpy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avemotion
from avemotion import _core

DIMS = [1, 3, 89, 512, 1000]
LEVELS = [lvl for lvl in ("scalar", "avx2", "avx512")]


def _supported_levels() -> list[str]:
    best = _core.build_info()["simd_detected"]
    return LEVELS[: LEVELS.index(best) + 1]


@pytest.fixture(params=_supported_levels())
def simd_level(request):
    before = _core.simd_level()
    _core.set_simd_level(request.param)
    yield request.param
    _core.set_simd_level(before)


def _reference(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float64) - mean.astype(np.float64)) / std.astype(np.float64)).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    dim=st.sampled_from(DIMS),
    rows=st.integers(0, 2500),
    offset=st.integers(0, 7),
    in_place=st.booleans(),
    two_d=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_normalize_matches_numpy(dim: int, rows: int, offset: int, in_place: bool, two_d: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = rows if two_d else 1
    # A slice at an odd float offset: start addresses not aligned to 16/32/64 bytes.
    buf = rng.normal(5.0, 3.0, size=n * dim + offset).astype(np.float32)
    x = buf[offset:].reshape(n, dim) if two_d else buf[offset:]
    mean = rng.normal(size=dim).astype(np.float32)
    std = rng.uniform(0.1, 4.0, size=dim).astype(np.float32)
    expected = _reference(x, mean, std)
    if in_place:
        out = avemotion.normalize(x, mean, std, out=x)
        assert out is x
    else:
        before = x.copy()
        out = avemotion.normalize(x, mean, std)
        np.testing.assert_array_equal(x, before)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("dim", DIMS)
def test_every_simd_level_agrees(simd_level: str, dim: int) -> None:
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(37, dim)).astype(np.float32)
    mean = rng.normal(size=dim).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=dim).astype(np.float32)
    np.testing.assert_allclose(avemotion.normalize(x, mean, std), _reference(x, mean, std), rtol=2e-6, atol=2e-6)


def test_accepts_lists_and_float64_converting_once() -> None:
    x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    out = avemotion.normalize(x, [1.0, 1.0, 1.0], np.array([2.0, 2.0, 2.0]))
    np.testing.assert_allclose(out, (np.array(x) - 1.0) / 2.0)
    assert out.dtype == np.float32


def test_core_is_strict_no_silent_copy() -> None:
    x64 = np.ones((2, 3))
    m = np.zeros(3, np.float32)
    with pytest.raises(TypeError):
        _core.normalize(x64, m, m, x64, True)
    strided = np.ones((4, 6), np.float32)[:, ::2]
    with pytest.raises(TypeError):
        _core.normalize(strided, m, m, np.empty((4, 3), np.float32), True)


@pytest.mark.parametrize(
    ("x", "mean", "std", "exc", "words"),
    [
        (np.ones((2, 3, 4)), np.zeros(4), np.ones(4), ValueError, ["x", "(N, D)", "(2, 3, 4)"]),
        (np.ones((2, 4)), np.zeros(3), np.ones(3), ValueError, ["mean", "(4,)", "(3,)"]),
        (np.ones((2, 4)), np.zeros(4), np.ones(5), ValueError, ["std", "(4,)", "(5,)"]),
        (np.ones((2, 4)), np.zeros(4), np.array([1, 1, -1, 1.0]), ValueError, ["std", "-1", "index 2"]),
        (np.ones((2, 4)), np.zeros(4), np.array([1, np.nan, 1, 1.0]), ValueError, ["std", "nan", "index 1"]),
        (np.ones((2, 4)), np.array([0, 0, np.inf, 0]), np.ones(4), ValueError, ["mean", "inf", "index 2"]),
        (np.array([["a", "b"]]), np.zeros(2), np.ones(2), TypeError, ["x", "dtype"]),
        (np.ones((2, 2), complex), np.zeros(2), np.ones(2), TypeError, ["x", "complex"]),
    ],
)
def test_bad_arguments_name_argument_expected_and_actual(x, mean, std, exc, words) -> None:
    with pytest.raises(exc) as info:
        avemotion.normalize(x, mean, std)
    for w in words:
        assert w in str(info.value)


def test_constant_feature_has_scale_one() -> None:
    """std < eps is a constant feature: scikit-learn's rule, scale 1 (x - mean), not 1/eps (issue 16.9)."""
    out = avemotion.normalize(np.array([[1.0, 2.0, 5.0]]), [1.0, 0.0, 1.0], [1.0, 0.0, 1e-9])
    np.testing.assert_array_equal(out, [[0.0, 2.0, 4.0]])
    p = avemotion.kernels.PreparedStats([0.0, 0.0, 0.0], [2.0, 0.0, 5e-7])
    assert p.constant == (1, 2)
    np.testing.assert_array_equal(p.inv_std, np.array([0.5, 1.0, 1.0], np.float32))
    # eps decides what counts as constant
    np.testing.assert_allclose(avemotion.normalize([[3.0]], [0.0], [0.5], eps=1.0), [[3.0]])


@pytest.mark.parametrize(
    ("eps", "exc"),
    [(float("nan"), ValueError), (float("inf"), ValueError), (-1.0, ValueError), (0.0, ValueError),
     ("1e-6", TypeError), (True, TypeError), (None, TypeError)],
)
def test_eps_is_validated(eps: object, exc: type) -> None:
    """Issue 16.8: eps=nan with a zero std gave inf, eps=-1 was accepted."""
    with pytest.raises(exc, match="eps"):
        avemotion.normalize(np.ones((2, 3)), np.zeros(3), np.array([1.0, 0.0, 1.0]), eps=eps)  # type: ignore[arg-type]


def test_shape_mismatch_blames_the_argument_that_disagrees_with_x() -> None:
    """Issue 16.8: x (N, 89), mean (88,), std (89,) must blame mean, not std."""
    with pytest.raises(ValueError, match=r"^mean: expected shape \(89,\).*got \(88,\)"):
        avemotion.normalize(np.ones((2, 89)), np.zeros(88), np.ones(89))
    with pytest.raises(ValueError, match=r"^std: expected shape \(89,\).*got \(88,\)"):
        avemotion.normalize(np.ones((2, 89)), np.zeros(89), np.ones(88))


def test_prepared_stats_apply_any_leading_dims_and_in_place() -> None:
    rng = np.random.default_rng(7)
    mean, std = rng.normal(size=89).astype(np.float32), rng.uniform(0.5, 2, 89).astype(np.float32)
    p = avemotion.kernels.PreparedStats(mean, std, dim=89)
    x = rng.normal(size=(2, 3, 89)).astype(np.float32)
    np.testing.assert_allclose(p.apply(x), _reference(x, mean, std), rtol=2e-6, atol=2e-6)
    y = x.copy()
    assert p.apply(y, out=y) is y
    np.testing.assert_allclose(y, _reference(x, mean, std), rtol=2e-6, atol=2e-6)
    x[1, 2, 40] = np.nan
    with pytest.raises(ValueError, match=r"feats: expected finite values, got nan at index \(1, 2\), column 40"):
        p.apply(x, name="feats")
    with pytest.raises(ValueError, match=r"feats: last dimension is 88 .* have dimension 89"):
        p.apply(np.ones((2, 88)), name="feats")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_raises_and_in_place_input_is_untouched(bad: float) -> None:
    x = np.arange(5 * 89, dtype=np.float32).reshape(5, 89)
    x[3, 70] = bad
    before = x.copy()
    with pytest.raises(ValueError, match=r"row 3, column 70"):
        avemotion.normalize(x, np.zeros(89), np.full(89, 2.0), out=x)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="row 3"):
        avemotion.normalize(x, np.zeros(89), np.full(89, 2.0))
    out = avemotion.normalize(x, np.zeros(89), np.full(89, 2.0), nan_policy="propagate")
    assert not np.isfinite(out[3, 70]) and np.isfinite(np.delete(out.ravel(), 3 * 89 + 70)).all()


def test_out_validation() -> None:
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="out"):
        avemotion.normalize(x, np.zeros(4), np.ones(4), out=np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="out"):
        avemotion.normalize(x, np.zeros(4), np.ones(4), out=np.empty((3, 4)))
    lst = [[1.0, 2.0]]
    with pytest.raises(TypeError, match="in-place"):
        avemotion.normalize(lst, [0, 0], [1, 1], out=lst)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlaps"):
        buf = np.ones(20, np.float32)
        _core.normalize(buf[:16].reshape(4, 4), np.zeros(4, np.float32), np.ones(4, np.float32), buf[2:18].reshape(4, 4), True)
    ro = np.ones((2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises((ValueError, TypeError)):
        avemotion.normalize(np.ones((2, 2)), np.zeros(2), np.ones(2), out=ro)


# ---- running statistics ---------------------------------------------------------------------------


def test_running_stats_matches_numpy_on_a_million_rows() -> None:
    rng = np.random.default_rng(1)
    # Large offset relative to the spread: the case where naive sum-of-squares loses digits.
    x = (rng.normal(size=(1_000_000, 8)) * np.arange(1, 9) + 1000.0).astype(np.float32)
    rs = avemotion.RunningStats(8)
    for chunk in np.array_split(x, 7):
        rs.update(chunk)
    x64 = x.astype(np.float64)
    assert rs.count == 1_000_000
    np.testing.assert_allclose(rs.mean, x64.mean(0), rtol=1e-6)
    np.testing.assert_allclose(rs.std, x64.std(0), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    dim=st.sampled_from([1, 3, 89]),
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=5),
    seed=st.integers(0, 2**31 - 1),
    use_mask=st.booleans(),
    f64=st.booleans(),
)
def test_running_stats_merge_and_mask(dim: int, sizes: list[int], seed: int, use_mask: bool, f64: bool) -> None:
    rng = np.random.default_rng(seed)
    parts, masks, workers = [], [], []
    for n in sizes:
        x = rng.normal(3.0, 2.0, size=(n, dim)).astype(np.float64 if f64 else np.float32)
        m = rng.random(n) < 0.7 if use_mask else np.ones(n, bool)
        x[~m] = np.nan  # masked rows are ignored even when they hold garbage
        parts.append(x)
        masks.append(m)
        workers.append(avemotion.RunningStats(dim).update(x, m if use_mask else None) if use_mask else avemotion.RunningStats(dim).update(x))
    total = avemotion.RunningStats(dim)
    for w in workers:
        total.merge(w)
    kept = np.concatenate([p[m] for p, m in zip(parts, masks, strict=False)]).astype(np.float64)
    assert total.count == len(kept)
    if len(kept):
        np.testing.assert_allclose(total.mean, kept.mean(0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(total.std, kept.std(0), rtol=1e-7, atol=1e-9)
    else:
        assert np.isnan(total.std).all()


def test_running_stats_sequences_with_masks() -> None:
    x = np.zeros((2, 3, 4), np.float32)
    x[0, :2] = 1.0
    x[1, 0] = 3.0
    mask = np.array([[True, True, False], [True, False, False]])
    rs = avemotion.RunningStats(4).update(x, mask)
    assert rs.count == 3
    np.testing.assert_allclose(rs.mean, np.full(4, 5.0 / 3.0))


def test_running_stats_pickles_and_merges_after() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(100, 5)), rng.normal(size=(50, 5))
    rs = pickle.loads(pickle.dumps(avemotion.RunningStats(5).update(a)))
    rs.merge(avemotion.RunningStats(5).update(b))
    both = np.concatenate([a, b])
    np.testing.assert_allclose(rs.mean, both.mean(0))
    np.testing.assert_allclose(rs.std, both.std(0))


def test_running_stats_rejects_bad_input_and_keeps_state() -> None:
    rs = avemotion.RunningStats(3).update(np.ones((4, 3)))
    bad = np.ones((3000, 3), np.float32)
    bad[2500, 1] = np.inf
    with pytest.raises(ValueError, match=r"row 2500, column 1"):
        rs.update(bad)
    assert rs.count == 4
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        rs.update(np.ones((2, 4)))
    with pytest.raises(TypeError, match="mask"):
        rs.update(np.ones((2, 3)), mask=np.array([1, 0]))
    with pytest.raises(ValueError, match="mask"):
        rs.update(np.ones((2, 3)), mask=np.array([True]))
    with pytest.raises(ValueError, match="dim 3"):
        rs.merge(avemotion.RunningStats(4))
    with pytest.raises(TypeError):
        rs.merge(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim"):
        avemotion.RunningStats(0)
    with pytest.raises(ValueError, match="state"):
        _core.RunningStats.from_state(2, 1, [0.0], [0.0])


def test_build_info_reports_simd_and_compiler() -> None:
    info = avemotion.build_info()
    assert info["simd_active"] in ("scalar", "avx2", "avx512")
    assert info["compiler"] and "O3" in info["cxx_flags"]
    assert "ort_backend" in info


@pytest.mark.parametrize("offset", [0, 1, 5])
@pytest.mark.parametrize("dim", [89, 512, 3])
def test_large_out_of_place_streaming_path(simd_level: str, offset: int, dim: int) -> None:
    """Outputs >= 8 MB take the non-temporal-store path: same numbers, same NaN reporting."""
    rows = (9 << 20) // (4 * dim) + 7
    rng = np.random.default_rng(offset)
    buf = rng.normal(size=rows * dim + offset).astype(np.float32)
    x = buf[offset:].reshape(rows, dim)
    mean = rng.normal(size=dim).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=dim).astype(np.float32)
    out_buf = np.empty(rows * dim + 3, np.float32)
    out = out_buf[3:].reshape(rows, dim)  # misaligned destination too
    avemotion.normalize(x, mean, std, out=out)
    np.testing.assert_allclose(out, _reference(x, mean, std), rtol=2e-6, atol=2e-6)
    x[rows - 2, dim - 1] = np.nan
    with pytest.raises(ValueError, match=f"row {rows - 2}, column {dim - 1}"):
        avemotion.normalize(x, mean, std, out=out)
