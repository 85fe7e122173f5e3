"""Per-call latency of the two-head model: the C API backend vs onnxruntime's Python binding.

Each group (model kind, batch B, sequence length T; Ta = Tv = T) holds:
  - ``c_api``        ``avemotion._core.OrtModel.run`` (C API, zero-copy inputs, GIL released)
  - ``ort_python``   ``onnxruntime.InferenceSession.run`` on the same model and inputs (baseline)
  - ``predictor``    ``Predictor.predict`` end to end (validation + C++ normalization + C API run)
Models: ``gru`` (dense 64 + GRU 64 per modality, two heads) and ``pool`` (masked mean pooling).
Both sessions use the same thread count (``AVEMOTION_BENCH_THREADS``, default 1) and provider.

    python -m pytest benchmarks/bench_inference.py --benchmark-only
    AVEMOTION_BENCH_PROVIDERS=cuda python -m pytest benchmarks/bench_inference.py --benchmark-only

``AVEMOTION_BENCH_PROVIDERS=cuda`` runs both backends on CUDA (strict: fails rather than silently
measuring the CPU); ``AVEMOTION_BENCH_MODELS=gru`` limits the model kinds.

On a loaded machine the groups' medians of long calls (B8, T100) are dominated by scheduling noise;
the C API's gain is the per-call overhead it removes (a few microseconds), visible at small sizes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from avemotion import _core  # noqa: E402
from avemotion.inference import CSession, load_model  # noqa: E402
from avemotion.testing import make_test_bundle  # noqa: E402

PROVIDER = os.environ.get("AVEMOTION_BENCH_PROVIDERS", "cpu").strip().lower() or "cpu"
THREADS = int(os.environ.get("AVEMOTION_BENCH_THREADS", "1"))
KINDS = [k for k in os.environ.get("AVEMOTION_BENCH_MODELS", "gru,pool").split(",") if k]
HIDDEN = 64
WARMUP = 10  # first runs grow ONNX Runtime's arenas; keep them out of the timings
CASES = [(b, t) for b in (1, 8) for t in (10, 30, 100)]

needs_c = pytest.mark.skipif(not getattr(_core, "HAVE_ORT", False), reason="built without ONNX Runtime headers")


@pytest.fixture(scope="module", params=KINDS)
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_bundle(tmp_path_factory.mktemp("bench") / request.param, kind=request.param,
                            hidden=HIDDEN, seed=0)


def _inputs(b: int, t: int) -> list[np.ndarray]:
    rng = np.random.default_rng(b * 1000 + t)
    return [rng.normal(size=(b, t, 89)).astype(np.float32), np.ones((b, t), np.float32),
            rng.normal(size=(b, t, 512)).astype(np.float32), np.ones((b, t), np.float32)]


def _ort_session(model: Path):  # the baseline a user would otherwise write
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    provs = ["CUDAExecutionProvider", "CPUExecutionProvider"] if PROVIDER == "cuda" else ["CPUExecutionProvider"]
    s = ort.InferenceSession(str(model), sess_options=so, providers=provs)
    if PROVIDER == "cuda" and "CUDAExecutionProvider" not in s.get_providers():
        pytest.fail(f"CUDA requested but onnxruntime uses {s.get_providers()}")
    return s


def _group(bundle: Path, b: int, t: int) -> str:
    return f"{bundle.name}-{PROVIDER}-B{b}-T{t}"


@needs_c
@pytest.mark.parametrize(("b", "t"), CASES)
def test_c_api(benchmark, bundle: Path, b: int, t: int) -> None:
    benchmark.group = _group(bundle, b, t)
    s = CSession(bundle / "model.onnx", provider=PROVIDER, strict=True, intra_op_threads=THREADS,
                 inter_op_threads=0)
    x = _inputs(b, t)
    for _ in range(WARMUP):
        s.run(x)
    out = benchmark(s.run, x)
    ref = _ort_session(bundle / "model.onnx").run(None, dict(zip([n for n, _ in s.inputs], x, strict=True)))
    assert np.abs(out[0] - ref[0]).max() <= (1e-5 if PROVIDER == "cpu" else 1e-3)


@pytest.mark.parametrize(("b", "t"), CASES)
def test_ort_python(benchmark, bundle: Path, b: int, t: int) -> None:
    benchmark.group = _group(bundle, b, t)
    s = _ort_session(bundle / "model.onnx")
    feed = dict(zip([i.name for i in s.get_inputs()], _inputs(b, t), strict=True))
    for _ in range(WARMUP):
        s.run(None, feed)
    benchmark(s.run, None, feed)


@pytest.mark.parametrize(("b", "t"), CASES)
def test_predictor(benchmark, bundle: Path, b: int, t: int) -> None:
    benchmark.group = _group(bundle, b, t)
    m = load_model(bundle, providers=PROVIDER, strict=True, intra_op_threads=THREADS)
    x = _inputs(b, t)
    for _ in range(WARMUP):
        m.predict([x[0], x[2]])
    benchmark(m.predict, [x[0], x[2]])
