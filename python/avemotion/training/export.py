"""Export a trained Keras model to ONNX (tf2onnx), verify it, and write a model bundle.

:func:`export_onnx` traces the model in a ``tf.function`` whose input signature names the inputs
``audio`` (B, Ta, Da), ``audio_mask`` (B, Ta), ``video`` (B, Tv, Dv), ``video_mask`` (B, Tv), all
float32 with dynamic B, Ta, Tv, and returns ``{"emotion", "laughter"}`` (ONNX output names). The
written file is then checked against Keras with ONNX Runtime on ``verify_batches`` random batches of
different shapes, including padded samples, a sample with no real video steps and one with no real
audio steps; a max abs difference above ``tolerance`` raises :class:`ExportError` (the file is not
left in place). The file is written atomically.

:func:`export_run` turns a finished run directory into a model bundle (``avemotion.bundle.write_bundle``:
``model.onnx``, both stats pickles, ``bundle.json`` with the training provenance, the resolved
configuration, the run's summary metrics and the export check).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_write_bytes as _atomic_bytes
from avemotion.training.config import EMOTION_LABELS, TrainConfig, config_to_dict
from avemotion.training.model import INPUT_NAMES, OUTPUT_NAMES

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The ONNX export failed or does not match the Keras model."""


@dataclass
class ExportResult:
    onnx_path: Path
    max_abs_diff: float
    batches_checked: int
    seconds: float
    opset: int


def random_batches(cfg: TrainConfig, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``n`` random input batches of varying B, Ta, Tv with padding, an all-masked video sample and
    an all-masked audio sample (float32 masks)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = int(rng.integers(3, 9))
        ta, tv = int(rng.integers(2, 40)), int(rng.integers(1, 20))
        am = np.ones((b, ta), np.float32)
        vm = (rng.random((b, tv)) > 0.2).astype(np.float32)
        for r in range(b):
            am[r, int(rng.integers(1, ta + 1)):] = 0.0
        vm[0] = 0.0  # no face at all
        am[1] = 0.0 if i % 2 else am[1]  # no audio (every other batch)
        vm[1] = 1.0
        audio = rng.normal(0, 1, (b, ta, cfg.features.audio_dim)).astype(np.float32) * am[..., None]
        video = rng.normal(0, 1, (b, tv, cfg.features.video_dim)).astype(np.float32) * vm[..., None]
        out.append({"audio": audio, "audio_mask": am, "video": video, "video_mask": vm})
    return out




def export_onnx(model: Any, cfg: TrainConfig, out_path: str | Path) -> ExportResult:
    """Convert ``model`` (from :func:`avemotion.training.model.build_model`) to ONNX at ``out_path``
    and verify it (see the module docstring)."""
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    t0 = time.perf_counter()
    out_path = Path(out_path)
    fc = cfg.features
    sig = [tf.TensorSpec((None, None, fc.audio_dim), tf.float32, name="audio"),
           tf.TensorSpec((None, None), tf.float32, name="audio_mask"),
           tf.TensorSpec((None, None, fc.video_dim), tf.float32, name="video"),
           tf.TensorSpec((None, None), tf.float32, name="video_mask")]

    @tf.function(input_signature=sig)
    def serve(audio: Any, audio_mask: Any, video: Any, video_mask: Any) -> dict[str, Any]:
        y = model({"audio": audio, "audio_mask": audio_mask, "video": video, "video_mask": video_mask},
                  training=False)
        return {"emotion": tf.identity(y["emotion"]), "laughter": tf.identity(y["laughter"])}

    try:
        proto, _ = tf2onnx.convert.from_function(serve, input_signature=sig, opset=cfg.export.opset)
    except Exception as exc:  # tf2onnx raises many types
        raise ExportError(f"tf2onnx conversion failed: {exc}") from exc
    in_names = [i.name for i in proto.graph.input]
    out_names = [o.name for o in proto.graph.output]
    if sorted(in_names) != sorted(INPUT_NAMES) or sorted(out_names) != sorted(OUTPUT_NAMES):
        raise ExportError(f"ONNX names: expected inputs {list(INPUT_NAMES)} and outputs {list(OUTPUT_NAMES)}, "
                          f"got {in_names} and {out_names}")
    data = proto.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = 0.0
    batches = random_batches(cfg, cfg.export.verify_batches, seed=cfg.seed)
    for x in batches:
        ref = model(x, training=False)
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, x), strict=False))
        for name in OUTPUT_NAMES:
            r = np.asarray(ref[name], np.float32).reshape(got[name].shape)
            if not np.isfinite(got[name]).all():
                raise ExportError(f"ONNX output {name} is not finite for a batch of shape "
                                  f"{ {k: v.shape for k, v in x.items()} }")
            worst = max(worst, float(np.max(np.abs(r - got[name]))))
    if worst > cfg.export.tolerance:
        raise ExportError(f"ONNX vs Keras: expected max abs diff <= {cfg.export.tolerance:g}, got {worst:.3g}")
    _atomic_bytes(out_path, data)
    dt = time.perf_counter() - t0
    log.info("exported %s (opset %d, max abs diff %.2g over %d batches, %.1f s)",
             out_path, cfg.export.opset, worst, len(batches), dt)
    return ExportResult(out_path, worst, len(batches), dt, cfg.export.opset)


def bundle_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The bundle.json settings this model was trained for (labels, dims, windows, names, threshold)."""
    fc = cfg.features
    return {
        "labels": list(EMOTION_LABELS),
        "features": {"audio_window_s": fc.audio_window_s, "audio_hop_s": fc.audio_hop_s,
                     "audio_mode": fc.audio_mode, "video_fps": fc.video_fps},
        "window_s": fc.window_s,
        "hop_s": fc.hop_s,
        "laughter_threshold": cfg.training.laughter_threshold,
        "inputs": {n: n for n in INPUT_NAMES},
        "outputs": {n: n for n in OUTPUT_NAMES},
    }


def write_model_bundle(out_dir: str | Path, *, onnx_path: str | Path, stats_dir: str | Path,
                       training: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Path:
    """Write a bundle directory with ``avemotion.bundle.write_bundle``; returns the bundle path."""
    from avemotion.bundle import write_bundle

    return Path(write_bundle(out_dir, onnx_path=onnx_path, stats_dir=stats_dir, training=training,
                             settings=settings))


def export_run(run_dir: str | Path, out_dir: str | Path, *, training_extra: dict[str, Any] | None = None
               ) -> tuple[ExportResult, Path]:
    """Export a finished run directory (``config.resolved.json``, ``model.weights.h5``, ``stats/``) to a
    bundle in ``out_dir``; returns the export result and the bundle directory."""
    from avemotion.training.config import config_from_dict
    from avemotion.training.model import build_model

    run = Path(run_dir)
    for need in ("config.resolved.json", "model.weights.h5", "stats/audio_normalization_stats.pkl",
                 "stats/video_normalization_stats.pkl"):
        if not (run / need).exists():
            raise FileNotFoundError(f"run directory {run}: missing {need} (is it a finished training run?)")
    resolved = json.loads((run / "config.resolved.json").read_text(encoding="utf-8"))
    cfg = config_from_dict(resolved["config"], str(run / "config.resolved.json"))
    model = build_model(cfg)
    model.load_weights(str(run / "model.weights.h5"))
    result = export_onnx(model, cfg, run / "model.onnx")
    settings = bundle_settings(cfg)
    settings["features"].update(_modality_record(resolved.get("provenance", {})))
    bundle_dir = write_model_bundle(out_dir, onnx_path=result.onnx_path, stats_dir=run / "stats",
                                     training=_provenance(run, resolved, cfg, result, training_extra),
                                     settings=settings)
    return result, bundle_dir


def _modality_record(prov: dict[str, Any]) -> dict[str, Any]:
    """``features.trained_modalities`` (and ``video_embedder`` when known) from a run's provenance
    (``modalities``: the inputs that carried data in training), in the keys of ``avemotion.bundle``:
    an audio-only bundle needs no embedder record; synthetic video features name the "synthetic" one."""
    from avemotion.bundle import SYNTHETIC_EMBEDDER, TRAINED_MODALITIES_KEY, VIDEO_EMBEDDER_KEY

    mods = prov.get("modalities")
    if not mods:
        return {}
    out: dict[str, Any] = {TRAINED_MODALITIES_KEY: list(mods)}
    if "video" in mods:
        if prov.get("dataset") == "synthetic":
            out[VIDEO_EMBEDDER_KEY] = {"name": SYNTHETIC_EMBEDDER, "sha256": None}
        elif isinstance(prov.get(VIDEO_EMBEDDER_KEY), dict):
            out[VIDEO_EMBEDDER_KEY] = prov[VIDEO_EMBEDDER_KEY]
    return out


def _provenance(run: Path, resolved: dict[str, Any], cfg: TrainConfig, result: ExportResult,
                extra: dict[str, Any] | None) -> dict[str, Any]:
    training = dict(resolved.get("provenance", {}))
    metrics_path = run / "metrics.json"
    if metrics_path.is_file():
        training["metrics"] = json.loads(metrics_path.read_text(encoding="utf-8")).get("summary", {})
    training["config"] = config_to_dict(cfg)
    training["export"] = {"opset": result.opset, "max_abs_diff_vs_keras": result.max_abs_diff,
                          "batches_checked": result.batches_checked}
    training.update(extra or {})
    return training
