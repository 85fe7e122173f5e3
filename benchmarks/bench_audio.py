"""Audio step benchmarks (pytest-benchmark), and the agreement table of the two audio modes.

    python -m pytest benchmarks/bench_audio.py --benchmark-only
    python benchmarks/bench_audio.py agreement [--out table.md]   # per-column agreement, markdown
    python benchmarks/bench_audio.py analyze MEDIA [MEDIA ...]      # `avemotion analyze --mode audio` RTF

Group ``audio-steps``: ``AVEMOTION_BENCH_AUDIO_S`` (default 30) seconds of real speech (the AMI
sample, then EmoDB utterances resampled to 16 kHz, from ``../shared/data/real``), W = 1 s, H = 0.1 s,
each case beside the baseline, per-window ``opensmile.Smile.process_signal`` (a new openSMILE
instance per window, what the seed scripts did):

- ``sliding-batch``: ``extract_audio`` (mode "sliding": one openSMILE run, functionals slide);
- ``sliding-stream``: one persistent ``AudioStreamExtractor`` fed 0.1 s chunks, then ``finish``;
- ``window-batch`` / ``window-stream``: mode "window" (per-window, bit-identical to
  ``process_signal``; batch spreads windows over threads).

``extra_info`` has the step count and the real-time factor. Each case runs
``AVEMOTION_BENCH_ROUNDS`` (default 1) rounds; timings are for comparison within one run. On a
shared machine add ``--benchmark-timer=time.process_time`` (CPU seconds of the process, all threads):
wall times there follow the other jobs' load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

AUDIO_S = float(os.environ.get("AVEMOTION_BENCH_AUDIO_S", "30"))
ROUNDS = int(os.environ.get("AVEMOTION_BENCH_ROUNDS", "1"))
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
AMI = REAL / "ami" / "ES2011a.Headset-0-40s-46s.wav"
EMODB = REAL / "emodb" / "wav"
SR = 16000


def _read16k(path: Path) -> np.ndarray:
    import soundfile as sf

    from avemotion.features.audio import to_mono_16k

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return to_mono_16k(x.T, int(sr), name=str(path))


def real_speech(seconds: float) -> np.ndarray:
    """``seconds`` of real speech: the AMI sample, then EmoDB files in name order (16 kHz)."""
    if not AMI.is_file() or not EMODB.is_dir():
        raise FileNotFoundError(f"real speech not found under {REAL}")
    parts, n = [_read16k(AMI)], 0
    n = parts[0].size
    for f in sorted(EMODB.glob("*.wav")):
        if n >= seconds * SR:
            break
        parts.append(_read16k(f))
        n += parts[-1].size
    return np.concatenate(parts)[: int(seconds * SR)]


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    try:
        return real_speech(AUDIO_S)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def _run(benchmark, fn, x: np.ndarray) -> None:
    benchmark.group = f"audio-steps {AUDIO_S:g}s"
    n = benchmark.pedantic(fn, args=(x,), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(steps=n, audio_s=x.size / SR, rtf=benchmark.stats.stats.min / (x.size / SR))


def per_window_process_signal(x: np.ndarray) -> int:
    import opensmile

    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    rows = [smile.process_signal(x[s : s + SR], SR).to_numpy() for s in range(0, x.size - SR + 1, SR // 10)]
    return len(rows)


def stream(x: np.ndarray, mode: str) -> int:
    from avemotion.features.audio import AudioStreamExtractor

    n = 0
    with AudioStreamExtractor(1.0, 0.1, mode=mode) as s:
        for i in range(0, x.size, SR // 10):
            n += s.push(x[i : i + SR // 10])[0].size
        n += s.finish()[0].size
    return n


def test_process_signal_per_window(benchmark, speech: np.ndarray) -> None:
    _run(benchmark, per_window_process_signal, speech)


@pytest.mark.parametrize("mode", ["sliding", "window"])
def test_batch(benchmark, speech: np.ndarray, mode: str) -> None:
    from avemotion.features.audio import extract_audio

    _run(benchmark, lambda x: len(extract_audio(x, SR, mode=mode)), speech)


@pytest.mark.parametrize("mode", ["sliding", "window"])
def test_stream(benchmark, speech: np.ndarray, mode: str) -> None:
    _run(benchmark, lambda x: stream(x, mode), speech)


# --------------------------------------------------------------------------- agreement table


def _agreement(sl: np.ndarray, win: np.ndarray) -> list[tuple[float, float, float]]:
    """Per column: Pearson correlation, median and max relative difference |a-b| / max(|a|, |b|)."""
    out = []
    for i in range(win.shape[1]):
        a, b = sl[:, i].astype(np.float64), win[:, i].astype(np.float64)
        if a.std() > 0 and b.std() > 0:
            corr = float(np.corrcoef(a, b)[0, 1])
        else:
            corr = 1.0 if np.array_equal(a, b) else float("nan")
        den = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(np.abs(a - b), den, out=np.zeros_like(den), where=den > 0)
        out.append((corr, float(np.median(rel)), float(rel.max())))
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(out: Path | None, n_clips: int) -> str:
    """Markdown table: per column, sliding vs window (= per-window ``process_signal``) on real speech:
    the AMI sample (6 s, one stream), EmoDB utterances concatenated (one stream) and the same
    utterances each as its own clip (how corpus extraction sees them)."""
    from avemotion.features.audio import AUDIO_FEATURE_NAMES, EGEMAPS_NAMES, extract_audio

    files = sorted(EMODB.glob("*.wav"))[::4][:n_clips]
    clips = [_read16k(f) for f in files]
    sets = {"AMI 6 s": [_read16k(AMI)], f"EmoDB {len(clips)} utt. as one stream": [np.concatenate(clips)],
            f"EmoDB {len(clips)} utt. as clips": clips}
    rows: dict[str, list[tuple[float, float, float]]] = {}
    extra: dict[str, dict[str, float]] = {}
    for name, signals in sets.items():
        sl = np.concatenate([extract_audio(x, SR).steps for x in signals])
        win = np.concatenate([extract_audio(x, SR, mode="window").steps for x in signals])
        rows[name] = _agreement(sl, win)
        # stddevNorm = stddev / mean: compare the stddev it implies, and the ranks (outlier-free)
        for i, col in enumerate(EGEMAPS_NAMES):
            if col.endswith("stddevNorm"):
                j = EGEMAPS_NAMES.index(col.replace("stddevNorm", "amean"))
                sd = np.corrcoef(sl[:, i] * sl[:, j], win[:, i] * win[:, j])[0, 1]
                extra.setdefault(col, {})[name] = float(sd)
                extra[col][name + " spearman"] = _spearman(sl[:, i], win[:, i])
        rows[name].append(_agreement(sl[:, 88:], win[:, 88:])[0])
        print(f"{name}: {len(sl)} windows", file=sys.stderr)
    names = list(sets)
    lines = ["| column | " + " | ".join(f"{n}: corr / median rel / max rel" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for i, col in enumerate(AUDIO_FEATURE_NAMES):
        cells = [f"{rows[n][i][0]:.4f} / {rows[n][i][1]:.2g} / {rows[n][i][2]:.2g}" for n in names]
        lines.append(f"| {col} | " + " | ".join(cells) + " |")
    corr = np.array([[r[0] for r in rows[n][:88]] for n in names])
    lines.append("| **median over the 88** | " + " | ".join(
        f"{np.nanmedian(c):.4f} / {np.median([r[1] for r in rows[n][:88]]):.2g} / "
        f"{np.median([r[2] for r in rows[n][:88]]):.2g}" for c, n in zip(corr, names, strict=True)) + " |")
    lines += ["", "stddevNorm columns: correlation of the stddev they imply (stddevNorm x amean) and "
              "Spearman rank correlation of stddevNorm itself", "",
              "| column | " + " | ".join(f"{n}: stddev corr / Spearman" for n in names) + " |",
              "|---|" + "---|" * len(names)]
    for col, d in extra.items():
        lines.append(f"| {col} | " + " | ".join(f"{d[n]:.4f} / {d[n + ' spearman']:.4f}" for n in names) + " |")
    text = "\n".join(lines) + "\n"
    if out is not None:
        out.write_text(text)
    return text


def analyze_rtf(media: list[str], repeats: int) -> None:
    """Wall time of ``avemotion analyze --mode audio`` per file (a fresh process: start-up and
    imports included), as a real-time factor of the media's duration."""
    from avemotion.features.media import probe

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "python")}
    import resource
    import tempfile

    for m in media:
        dur = float(probe(m).duration or 0.0)
        walls, cpus = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(repeats):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "avemotion", "analyze", m, "--mode", "audio", "--out", tmp,
                                "--force", "--no-progress", "--quiet"], check=True, env=env, cwd=root)
                walls.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        w, c = float(np.median(walls)), float(np.median(cpus))
        print(f"{m}: {dur:.1f} s media; analyze --mode audio (a new process, start-up included), median of "
              f"{repeats}: wall {w:.2f} s (RTF {w / dur:.3f}), CPU {c:.2f} s (CPU-time RTF {c / dur:.3f})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("agreement")
    a.add_argument("--out", type=Path)
    a.add_argument("--clips", type=int, default=80, help="EmoDB utterances (every 4th file)")
    b = sub.add_parser("analyze")
    b.add_argument("media", nargs="+")
    b.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.cmd == "agreement":
        print(agreement(args.out, args.clips))
    else:
        analyze_rtf(args.media, args.repeats)
