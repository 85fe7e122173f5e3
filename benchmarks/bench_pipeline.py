"""End-to-end pipeline: real-time factor of ``analyze`` and per-window compute latency of ``live``.

Run: ``python -m pytest benchmarks/bench_pipeline.py --benchmark-only`` (minutes on a 2-core CPU:
MTCNN + FaceNet dominate). The clip is generated from ``samples/demo_clip.mp4`` looped to
``AVEMOTION_BENCH_SECONDS`` seconds (default 20; the issue's figure is 60), 640x480 25 fps.
The model is the bundled ``models/dynamic_padding_no_leakage`` (else a GRU test bundle); FaceNet has
random weights unless ``AVEMOTION_FACENET_WEIGHTS`` points at the real ones (same cost either way).

Groups (each case beside the baseline a user would otherwise write):

``analyze <N>s``: ``pipeline`` = ``avemotion.pipeline.analyze_file`` (one persistent openSMILE
instance, MTCNN and FaceNet batched 8 frames at a time, AVSync, batched ONNX Runtime calls) vs
``naive`` = the seed scripts' way: ``opensmile.Smile.process_signal`` per 1 s audio window, MTCNN
and FaceNet per frame, one model call per window. ``extra_info`` holds the real-time factor
(processing seconds per media second) and the per-stage breakdown.

``live window``: the compute one hop (0.5 s) of new media costs in live mode: 5 audio steps from
the streaming extractor, the hop's frames (at the bundle's fps) through MTCNN + FaceNet, AVSync push
and pop, one model call: ``pipeline`` vs the same work done the naive way. Capture-to-prediction
latency percentiles under real-time pacing come from ``benchmarks/soak_live.py``.

``live engine overhead (60 s, free stages)``: what :class:`avemotion.pipeline.LiveEngine` itself costs
(queues, worker threads, rings, AVSync, emission) with stages that cost nothing (precomputed audio
steps, constant frame embeddings, a constant model): ``engine`` = the threaded engine in blocking
mode fed from the bench's thread vs ``direct`` = the same steps pushed into one AVSync and popped in
one go (no threads). Needs no media, no model and no openSMILE.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from avemotion._contract import AUDIO_DIM, SAMPLE_RATE

SR = SAMPLE_RATE
ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("AVEMOTION_BENCH_SECONDS", "20"))
MODEL = ROOT / "models" / "dynamic_padding_no_leakage"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    out = tmp_path_factory.mktemp("bench") / f"clip_{int(SECONDS)}s.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1",
                    "-i", str(ROOT / "samples" / "demo_clip.mp4"), "-t", str(SECONDS), "-r", "25",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
                   check=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory):
    from avemotion.inference import load_model

    if (MODEL / "bundle.json").is_file():
        return load_model(MODEL)
    from avemotion.testing import make_test_bundle

    return load_model(make_test_bundle(tmp_path_factory.mktemp("model") / "bundle", kind="gru"))


@pytest.fixture(scope="module")
def extractor():
    pytest.importorskip("facenet_pytorch")
    from avemotion.pipeline import get_video_extractor

    return get_video_extractor(random_weights=True)


def _naive_analyze(path: Path, predictor, extractor) -> dict[str, float]:
    """The seed scripts' structure: per-window openSMILE calls, per-frame face work, per-window model."""
    import opensmile

    from avemotion.features.audio import rms_dbfs
    from avemotion.features.media import decode_audio, iter_video_frames
    from avemotion.pipeline import PipelineSettings

    s = PipelineSettings.from_bundle(predictor.bundle)
    t = {"decode_s": 0.0, "audio_features_s": 0.0, "video_s": 0.0, "model_s": 0.0}
    t0 = time.perf_counter()
    x = decode_audio(path).samples
    t["decode_s"] += time.perf_counter() - t0
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    t0 = time.perf_counter()
    win, hop = int(s.audio_window_s * SR), int(s.audio_hop_s * SR)
    a_ts, a_x = [], []
    for st in range(0, x.size - win + 1, hop):
        w = x[st:st + win]
        row = np.empty(AUDIO_DIM, np.float32)
        row[:AUDIO_DIM - 1] = smile.process_signal(w, SR).to_numpy()[0]
        row[AUDIO_DIM - 1] = rms_dbfs(w)
        a_x.append(row)
        a_ts.append((st + win) / SR)
    t["audio_features_s"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    v_ts, v_x, v_m = [], [], []
    for ts, rgb in iter_video_frames(path, fps=s.video_fps):
        steps, mask, _ = extractor.process([rgb])  # one frame at a time
        v_ts.append(ts)
        v_x.append(steps[0])
        v_m.append(bool(mask[0]))
    t["video_s"] += time.perf_counter() - t0
    a_ts_, a_x_ = np.array(a_ts), np.array(a_x, np.float32)
    v_ts_, v_x_, v_m_ = np.array(v_ts), np.array(v_x, np.float32), np.array(v_m)
    t0 = time.perf_counter()
    end = s.hop_s
    last = max(a_ts_[-1], v_ts_[-1])
    while end <= last + 1e-9:
        ai = (a_ts_ > end - s.window_s) & (a_ts_ <= end)
        vi = (v_ts_ > end - s.window_s) & (v_ts_ <= end)
        predictor.predict([a_x_[ai], v_x_[vi]], masks=[np.ones(int(ai.sum()), bool), v_m_[vi]])
        end += s.hop_s
    t["model_s"] += time.perf_counter() - t0
    return t


def test_analyze_pipeline(benchmark, clip: Path, predictor, extractor) -> None:
    from avemotion.pipeline import analyze_file

    benchmark.group = f"analyze {SECONDS:g}s"
    res = benchmark.pedantic(analyze_file, args=(clip, predictor), kwargs={"video_extractor": extractor},
                             rounds=1, iterations=1)
    assert len(res.results) >= int(SECONDS / 0.5) - 2
    benchmark.extra_info.update(real_time_factor=round(res.real_time_factor, 4), **res.timings.to_dict())


def test_analyze_naive(benchmark, clip: Path, predictor, extractor) -> None:
    benchmark.group = f"analyze {SECONDS:g}s"
    t = benchmark.pedantic(_naive_analyze, args=(clip, predictor, extractor), rounds=1, iterations=1)
    total = sum(t.values())
    benchmark.extra_info.update(real_time_factor=round(total / SECONDS, 4), **{k: round(v, 4) for k, v in t.items()})


# ----------------------------------------------------------------------- analyze av, real FaceNet (issue 17)
# Group ``analyze demo av``: the 12 s demo clip (real speech over a real face photo) with the real
# CASIA-WebFace FaceNet in ONNX Runtime (`avemotion weights`) and the bundled model, wall-clock RTF:
# ``overlapped`` = analyze_file's default (audio thread fed during the demux pass, FaceNet one batch
# behind MTCNN, face tracking), beside ``sequential`` (overlap=False: the stages one after the other,
# what analyze did before) and ``every_frame`` (sequential, MTCNN on every sampled frame).
# ``extra_info``: RTF, per-stage wall and CPU seconds, the load average at the start.
DEMO = ROOT / "samples" / "demo_clip.mp4"
AV_ROUNDS = int(os.environ.get("AVEMOTION_BENCH_ROUNDS", "3"))


@pytest.fixture(scope="module")
def real_extractors():
    pytest.importorskip("facenet_pytorch")
    from avemotion.features import facenet_weights as FW
    from avemotion.pipeline import get_video_extractor

    try:
        FW.default_weights("onnx", None)
    except FileNotFoundError as exc:
        pytest.skip(f"real FaceNet weights not set up (avemotion weights): {exc}")
    out = {"tracking": get_video_extractor(int8=False), "every_frame": get_video_extractor(redetect_every=1, int8=False)}
    try:
        out["tracking_int8"] = get_video_extractor(int8=True)
    except FileNotFoundError:
        pass
    return out


@pytest.fixture(scope="module")
def sliding_predictor(predictor, tmp_path_factory: pytest.TempPathFactory):
    """The bundled model with its audio steps in the default (``sliding``) mode, as retrained bundles
    record it (the shipped demo bundle predates the key: ``window``, ~10x the audio cost); the
    predictions are not the point here, the cost is."""
    import json

    from avemotion.features.audio import DEFAULT_MODE
    from avemotion.inference import load_model

    src = Path(predictor.bundle.path)
    if predictor.bundle.features.get("audio_mode") == DEFAULT_MODE:
        return predictor
    dst = tmp_path_factory.mktemp("sliding") / "bundle"
    shutil.copytree(src, dst)
    meta = json.loads((dst / "bundle.json").read_text())
    meta.setdefault("features", {})["audio_mode"] = DEFAULT_MODE
    (dst / "bundle.json").write_text(json.dumps(meta))
    return load_model(dst)


def _analyze_av(benchmark, predictor, ex, overlap: bool) -> None:
    from avemotion.pipeline import analyze_file

    benchmark.group = "analyze demo av (CASIA FaceNet ORT)"
    load = os.getloadavg()[0]
    analyze_file(DEMO, predictor, video_extractor=ex, overlap=overlap)  # warm-up (ORT, MTCNN, openSMILE)
    runs = []

    def once():
        runs.append(analyze_file(DEMO, predictor, video_extractor=ex, overlap=overlap))

    benchmark.pedantic(once, rounds=AV_ROUNDS, iterations=1)
    med = sorted(runs, key=lambda r: r.real_time_factor)[len(runs) // 2]
    benchmark.extra_info.update(real_time_factor=round(med.real_time_factor, 4), load_avg_1min=round(load, 2),
                                audio_mode=predictor.bundle.features.get("audio_mode"),
                                rtfs=[round(r.real_time_factor, 4) for r in runs], **med.timings.to_dict(),
                                cpu={k: round(v, 3) for k, v in med.timings.cpu.items()})


def test_analyze_av_overlapped(benchmark, sliding_predictor, real_extractors) -> None:
    _analyze_av(benchmark, sliding_predictor, real_extractors["tracking"], True)


def test_analyze_av_sequential(benchmark, sliding_predictor, real_extractors) -> None:
    _analyze_av(benchmark, sliding_predictor, real_extractors["tracking"], False)


def test_analyze_av_overlapped_int8(benchmark, sliding_predictor, real_extractors) -> None:
    if "tracking_int8" not in real_extractors:
        pytest.skip("no INT8 FaceNet in the cache (avemotion weights)")
    _analyze_av(benchmark, sliding_predictor, real_extractors["tracking_int8"], True)


def test_analyze_av_sequential_int8(benchmark, sliding_predictor, real_extractors) -> None:
    if "tracking_int8" not in real_extractors:
        pytest.skip("no INT8 FaceNet in the cache (avemotion weights)")
    _analyze_av(benchmark, sliding_predictor, real_extractors["tracking_int8"], False)


def test_analyze_av_every_frame(benchmark, sliding_predictor, real_extractors) -> None:
    _analyze_av(benchmark, sliding_predictor, real_extractors["every_frame"], False)


@pytest.fixture(scope="module")
def hop_media(clip: Path, predictor):
    """One hop of new media in the middle of the clip: 0.5 s of audio, the frames sampled in it."""
    from avemotion.features.media import decode_audio, iter_video_frames
    from avemotion.pipeline import PipelineSettings

    s = PipelineSettings.from_bundle(predictor.bundle)
    audio = decode_audio(clip, start=2.0, end=4.0).samples
    frames = [rgb for t, rgb in iter_video_frames(clip, fps=s.video_fps, start=2.0, end=2.0 + s.hop_s)]
    return s, audio, frames


def test_live_window_pipeline(benchmark, hop_media, predictor, extractor) -> None:
    from avemotion.features.audio import AudioStreamExtractor
    from avemotion.pipeline import WindowPredictor, make_sync

    s, audio, frames = hop_media
    hop_n = int(s.hop_s * SR)
    wp = WindowPredictor(predictor, s)
    state = {"t": 0.0}
    ex = AudioStreamExtractor(s.audio_window_s, s.audio_hop_s)
    sync = make_sync(s, max_latency_s=1.5)
    ex.push(audio[: int(s.audio_window_s * SR) - hop_n])  # prime: the next hop completes windows

    def one_hop():
        ts, steps = ex.push(audio[:hop_n])
        sync.push_audio(ts, steps)
        st, mask, _ = extractor.process(frames)
        vt = state["t"] + s.hop_s * (np.arange(len(frames)) + 1) / max(len(frames), 1)
        sync.push_video(vt, st, mask)
        state["t"] = float(ts[-1])
        return wp(sync.pop_batch())

    benchmark.group = "live window (one 0.5 s hop)"
    benchmark.pedantic(one_hop, rounds=5, iterations=1, warmup_rounds=1)
    ex.close()


def test_live_window_naive(benchmark, hop_media, predictor, extractor) -> None:
    import opensmile

    from avemotion.features.audio import rms_dbfs

    s, audio, frames = hop_media
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    win, hop = int(s.audio_window_s * SR), int(s.audio_hop_s * SR)
    n_steps = int(round(s.hop_s / s.audio_hop_s))

    def one_hop():
        rows = []
        for k in range(n_steps):
            w = audio[k * hop:k * hop + win]
            row = np.empty(AUDIO_DIM, np.float32)
            row[:AUDIO_DIM - 1] = smile.process_signal(w, SR).to_numpy()[0]
            row[AUDIO_DIM - 1] = rms_dbfs(w)
            rows.append(row)
        vids = [extractor.process([f])[0][0] for f in frames]
        return predictor.predict([np.array(rows * 4, np.float32), np.array(vids * 4 or [np.zeros(512, np.float32)])])

    benchmark.group = "live window (one 0.5 s hop)"
    benchmark.pedantic(one_hop, rounds=5, iterations=1, warmup_rounds=1)
    assert math.isfinite(float(np.asarray(one_hop()[1]).reshape(-1)[0]))


class _FreeAudio:
    """An audio stepper that costs nothing: one step per hop, a constant row."""

    def __init__(self, settings, t0: float) -> None:
        self.hop, self.win, self.t0, self.n, self.next = (int(settings.audio_hop_s * SR),
                                                          int(settings.audio_window_s * SR), t0, 0, 0)
        self.row = np.zeros((1, settings.audio_dim), np.float32)

    def push(self, x):
        self.n += x.size
        ts = []
        while self.next + self.win <= self.n:
            ts.append(self.t0 + (self.next + self.win) / SR)
            self.next += self.hop
        return np.asarray(ts), np.repeat(self.row, len(ts), 0)

    def close(self) -> None: ...


class _FreeFaces:
    timings = {"detect_s": 0.0, "embed_s": 0.0}

    def process(self, frames):
        n = len(frames)
        return np.zeros((n, 512), np.float32), np.ones(n, bool), np.ones(n, np.float32)


class _FreeModel:
    def predict(self, inputs, masks):
        n = np.shape(inputs[0])[0]
        return np.full((n, 6), 1 / 6), np.zeros((n, 1))


ENGINE_SECONDS = 60.0


def _engine_run() -> int:
    from avemotion.pipeline import LiveConfig, LiveEngine, PipelineSettings

    s = PipelineSettings()
    n = [0]
    eng = LiveEngine(_FreeModel(), LiveConfig(mode="av", blocking=True, max_latency_s=30.0),
                     video_extractor=_FreeFaces(), settings=s, audio_stepper=_FreeAudio,
                     on_result=lambda r, i: n.__setitem__(0, n[0] + 1))
    eng.start()
    chunk = SR // 10
    frame = np.zeros((8, 8, 3), np.uint8)
    k = 0
    for i in range(int(ENGINE_SECONDS * 10)):
        t = i * 0.1
        eng.on_audio(t, np.zeros(chunk, np.float32), t)
        while k / s.video_fps < t + 0.1 - 1e-9:
            eng.on_video(k / s.video_fps, frame, t)
            k += 1
    eng.on_end("end of stream")
    assert eng.wait(timeout=600) is not None
    return n[0]


def _direct_run() -> int:
    from avemotion.pipeline import PipelineSettings, WindowPredictor, last_window_end, make_sync

    s = PipelineSettings()
    ex = _FreeAudio(s, 0.0)
    ts, x = ex.push(np.zeros(int(ENGINE_SECONDS * SR), np.float32))
    vt = np.arange(int(ENGINE_SECONDS * s.video_fps)) / s.video_fps
    vx, vm, _ = _FreeFaces().process([None] * vt.size)
    sync = make_sync(s, max_latency_s=30.0, grid_start_s=0.0, max_pending_windows=1024)
    sync.push_audio(ts, x)
    sync.push_video(vt, vx, vm)
    sync.flush(last_window_end(max(ts[-1], vt[-1]), s.hop_s))
    return len(WindowPredictor(_FreeModel(), s)(sync.pop_batch()))


def test_live_engine_overhead_engine(benchmark) -> None:
    benchmark.group = f"live engine overhead ({ENGINE_SECONDS:g} s, free stages)"
    n = benchmark.pedantic(_engine_run, rounds=3, iterations=1, warmup_rounds=1)
    assert n == int(ENGINE_SECONDS / 0.5)


def test_live_engine_overhead_direct(benchmark) -> None:
    benchmark.group = f"live engine overhead ({ENGINE_SECONDS:g} s, free stages)"
    n = benchmark.pedantic(_direct_run, rounds=3, iterations=1, warmup_rounds=1)
    assert n == int(ENGINE_SECONDS / 0.5)
