"""The C API backend (avemotion._core.OrtModel) against onnxruntime's Python binding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from avemotion import _core
from avemotion.inference import CSession, PySession, load_model, ort_library_path

needs_c = pytest.mark.skipif(not getattr(_core, "HAVE_ORT", False),
                             reason="built without ONNX Runtime headers (scripts/fetch_ort_headers.sh)")


def _random_batch(rng: np.random.Generator, b: int, ta: int, tv: int) -> tuple[list, list]:
    a = rng.normal(0, 2, (b, ta, 89))
    v = rng.normal(0, 1, (b, tv, 512))
    la = rng.integers(0, ta + 1, b)
    lv = rng.integers(0, tv + 1, b)
    return [a, v], [la, lv]


@needs_c
@pytest.mark.parametrize("fixture", ["bundle_dir", "gru_bundle_dir"])
def test_c_and_python_backends_agree(fixture: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(fixture)
    mc = load_model(path, backend="c", providers="cpu", intra_op_threads=1)
    mp = load_model(path, backend="python", providers="cpu", intra_op_threads=1)
    assert (mc.backend, mp.backend) == ("c", "python")
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(25):
        b, ta, tv = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 15))
        feats, lens = _random_batch(rng, b, ta, tv)
        ec, lc = mc.predict(feats, lengths=lens)
        ep, lp = mp.predict(feats, lengths=lens)
        assert ec.shape == (b, 6) and lc.shape == (b, 1)
        assert ec.dtype == np.float32 and lc.dtype == np.float32
        worst = max(worst, float(np.abs(ec - ep).max()), float(np.abs(lc - lp).max()))
    assert worst <= 1e-6


@needs_c
def test_raw_session_matches_and_validates(pool_model: Path) -> None:
    cs = CSession(pool_model, provider="cpu", strict=False, intra_op_threads=1, inter_op_threads=1)
    ps = PySession(pool_model, provider="cpu", strict=False, intra_op_threads=1, inter_op_threads=1)
    assert cs.inputs == ps.inputs == [("audio", (None, None, 89)), ("audio_mask", (None, None)),
                                      ("video", (None, None, 512)), ("video_mask", (None, None))]
    assert [n for n, _ in cs.outputs] == ["emotion", "laughter"]
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(3, 5, 89)).astype(np.float32), np.ones((3, 5), np.float32),
              rng.normal(size=(3, 2, 512)).astype(np.float32), np.ones((3, 2), np.float32)]
    for c, p in zip(cs.run(arrays), ps.run(arrays), strict=True):
        np.testing.assert_allclose(c, p, atol=1e-6, rtol=0)
    m = cs._m
    with pytest.raises(TypeError, match="input 'audio': expected a C-contiguous float32 array, got float64"):
        m.run([arrays[0].astype(np.float64)] + arrays[1:])
    with pytest.raises(TypeError, match="not C-contiguous"):
        m.run([np.asfortranarray(arrays[0])] + arrays[1:])
    with pytest.raises(ValueError, match=r"input 'video': expected shape \(\?, \?, 512\), got \(3, 2, 511\)"):
        m.run(arrays[:2] + [arrays[2][..., :511].copy(), arrays[3]])
    with pytest.raises(ValueError, match="expected batch size 3"):
        m.run(arrays[:3] + [np.ones((2, 2), np.float32)])
    with pytest.raises(ValueError, match="expected 4 arrays"):
        m.run(arrays[:3])
    with pytest.raises(TypeError, match="expected a numpy.ndarray, got list"):
        m.run([arrays[0].tolist()] + arrays[1:])


@needs_c
def test_outputs_preallocated_for_largest_batch(pool_model: Path) -> None:
    cs = CSession(pool_model, provider="cpu", strict=False, intra_op_threads=1, inter_op_threads=0)
    rng = np.random.default_rng(2)

    def batch(b: int) -> list[np.ndarray]:
        return [rng.normal(size=(b, 4, 89)).astype(np.float32), np.ones((b, 4), np.float32),
                rng.normal(size=(b, 3, 512)).astype(np.float32), np.ones((b, 3), np.float32)]

    big, small = batch(8), batch(2)
    small_first = [o.copy() for o in cs.run(small)]
    assert cs.max_batch_seen == 2
    big_out = cs.run(big)
    assert cs.max_batch_seen == 8 and big_out[0].shape == (8, 6)
    again = cs.run(small)  # reuses the (larger) buffers: same values, right shape
    assert again[0].shape == (2, 6) and cs.max_batch_seen == 8
    np.testing.assert_array_equal(again[0], small_first[0])
    np.testing.assert_array_equal(again[1], small_first[1])
    # returned arrays are the caller's: a later run does not overwrite them
    np.testing.assert_array_equal(big_out[0], cs.run(big)[0])


@needs_c
def test_concurrent_runs_from_threads(bundle_dir: Path) -> None:
    m = load_model(bundle_dir, backend="c", intra_op_threads=1)
    rng = np.random.default_rng(3)
    inputs = [_random_batch(rng, int(rng.integers(1, 5)), 6, 3) for _ in range(16)]
    serial = [m.predict(f, lengths=ln) for f, ln in inputs]
    with ThreadPoolExecutor(4) as ex:
        threaded = list(ex.map(lambda fl: m.predict(fl[0], lengths=fl[1]), inputs))
    for (e1, l1), (e2, l2) in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(e1, e2)
        np.testing.assert_array_equal(l1, l2)


@needs_c
def test_second_library_path_is_refused(pool_model: Path) -> None:
    _core.ort_library_version(str(ort_library_path()))  # make sure the wheel's library is loaded
    with pytest.raises(RuntimeError, match="already loaded from"):
        _core.OrtModel("/nonexistent/libonnxruntime.so.1.99", str(pool_model))


@needs_c
def test_bad_options_and_model_path(pool_model: Path, tmp_path: Path) -> None:
    lib = str(ort_library_path())
    with pytest.raises(ValueError, match="provider: expected 'cpu' or 'cuda', got 'tpu'"):
        _core.OrtModel(lib, str(pool_model), provider="tpu")
    with pytest.raises(ValueError, match="intra_op_threads: expected 0"):
        _core.OrtModel(lib, str(pool_model), intra_op_threads=-1)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="cannot create an ONNX Runtime session for"):
        _core.OrtModel(lib, str(bad))


FAKE_ORT = r"""
// A stand-in libonnxruntime that serves no API version (as an old library would for ours).
#include <stddef.h>
#include <stdint.h>
typedef struct { const void* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); } Base;
static const void* get_api(uint32_t v) { (void)v; return NULL; }
static const char* version(void) { return "1.16.3"; }
static const Base base = {get_api, version};
const Base* OrtGetApiBase(void) { return &base; }
"""


@needs_c
def test_older_library_gives_clear_error(tmp_path: Path) -> None:
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in library")
    src = tmp_path / "fake.c"
    src.write_text(FAKE_ORT)
    lib = tmp_path / "libonnxruntime.so.1.16.3"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    code = textwrap.dedent(f"""
        from avemotion import _core
        try:
            _core.ort_library_version({str(lib)!r})
        except RuntimeError as e:
            print("ERR", e)
    """)
    # A fresh process: the real library must not be loaded there first.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "ERR" in out and "ONNX Runtime 1.16.3" in out
    assert f"does not serve C API version {_core.ort_headers_api_version()}" in out
