"""The task function :func:`extract_clip` (one clip -> one ``.npz``; never raises for bad media) and
the per-process extractor cache it uses. Re-exported by :mod:`avemotion.features.extract`, whose
docstring lists the outcomes of a bad clip.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from avemotion.features._extract_index import file_digest
from avemotion.features._extract_task import ClipResult, ClipTask, ExtractSettings

logger = logging.getLogger("avemotion.features.extract")


# --- per-process state: extractors are built once per worker and settings --------------------------
_STATE: dict[ExtractSettings, dict[str, Any]] = {}


def _extractors(settings: ExtractSettings) -> dict[str, Any]:
    st = _STATE.get(settings)
    if st is None:
        st = {}
        threads = int(os.environ.get("AVEMOTION_WORKER_THREADS", "0"))
        if threads and settings.video:
            import torch

            torch.set_num_threads(threads)
        if settings.audio:
            from avemotion.features.audio import SmileWindowRunner

            st["audio"] = SmileWindowRunner()
        if settings.video:
            from avemotion.features import facenet_weights as FW
            from avemotion.features import video as V

            # the embedder analyze/live use (default: the converted CASIA-WebFace weights in ONNX Runtime,
            # INT8 when converted)
            random_w = settings.allow_random_weights and not settings.facenet_weights
            onnx: str | os.PathLike[str] | None = settings.facenet_onnx
            if onnx is None:
                default = not (settings.facenet_weights or random_w or os.environ.get(V.WEIGHTS_ENV))
                onnx = FW.int8_onnx(settings.facenet_int8,
                                    default_on_cpu=default and V.resolve_device(settings.device).type == "cpu")
            elif settings.facenet_int8:
                raise ValueError("facenet_int8: the INT8 model replaces the default weights, not facenet_onnx")
            embedder = V.make_embedder(
                weights=settings.facenet_weights,
                random_weights=random_w,
                onnx=onnx,
                device=settings.device,
                threads=threads or None,
            )
            detector: Any = V.FaceDetector(
                min_prob=settings.min_face_prob,
                detect_max_side=settings.detect_max_side,
                onnx_dir=settings.mtcnn_onnx,
                device=settings.device,
            )
            if settings.redetect_every > 1:
                from avemotion.features.face_track import TrackingFaceDetector

                detector = TrackingFaceDetector(detector, redetect_every=settings.redetect_every)
            st["video"] = V.VideoExtractor(
                embedder,
                detector,
                batch_size=settings.batch_size,
            )
        _STATE[settings] = st
    return st


def _embedder_identity(embedder: Any) -> dict[str, Any] | None:
    ident = getattr(embedder, "identity", None)
    return ident.as_dict() if ident is not None and hasattr(ident, "as_dict") else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("avemotion", "opensmile", "facenet-pytorch", "torch", "onnxruntime", "av"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def extract_clip(
    task: ClipTask, out_dir: str | os.PathLike[str], settings: ExtractSettings
) -> ClipResult:
    """Extract one clip to ``{out_dir}/{clip_id}.npz``; never raises for bad media (see module doc).

    ``FaceNetWeightsMissing`` and other set-up errors (not the clip's fault) do propagate.
    """
    from avemotion.features import clipfile
    from avemotion.features.audio import extract_audio
    from avemotion.features.media import MediaError, decode_audio, iter_video_frames

    ex = _extractors(settings)  # built once per process, not counted in the clip's timings
    t_start = time.perf_counter()
    out_path = Path(out_dir) / f"{task.clip_id}.npz"
    res = ClipResult(
        task.clip_id, "error", media_path=str(task.media_path), start=task.start, end=task.end
    )
    warnings: list[str] = []
    audio, audio_times = clipfile.empty_audio()
    video, video_times, video_mask = clipfile.empty_video()
    source: dict[str, Any] = {}
    try:
        got_audio = got_video = False
        if settings.audio:
            t0 = time.perf_counter()
            try:
                dec = decode_audio(task.media_path, start=task.start, end=task.end)
            except MediaError as exc:
                if exc.kind != "no_audio":
                    raise
                warnings.append("no audio stream")
            else:
                t1 = time.perf_counter()
                res.decode_s += t1 - t0
                source.update(audio_rate=dec.source_rate, audio_channels=dec.source_channels)
                res.seconds = dec.duration
                got_audio = dec.samples.size > 0
                feats = extract_audio(
                    dec.samples,
                    16000,
                    window_s=settings.audio_window_s,
                    hop_s=settings.audio_hop_s,
                    mode=settings.audio_mode,
                    runner=ex["audio"],
                )
                audio, audio_times = feats.steps, feats.times
                res.audio_s = time.perf_counter() - t1
                if got_audio and len(feats) == 0:
                    warnings.append(
                        f"audio shorter than one window ({dec.duration:.3g} s < {settings.audio_window_s} s)"
                    )
        if settings.video:
            t0 = time.perf_counter()
            try:
                vx = ex["video"]
                before = dict(vx.timings)
                vf = vx.extract(
                    iter_video_frames(
                        task.media_path, fps=settings.video_fps, start=task.start, end=task.end
                    )
                )
            except MediaError as exc:
                if exc.kind != "no_video":
                    raise
                warnings.append("no video stream")
            else:
                spent = time.perf_counter() - t0
                model_s = sum(vx.timings.values()) - sum(before.values())
                res.decode_s += spent - model_s
                res.video_s = model_s
                video, video_times, video_mask = vf.steps, vf.times, vf.mask
                got_video = len(vf) > 0
                if got_video:
                    res.seconds = max(res.seconds, float(vf.times[-1]) + 1.0 / settings.video_fps)
                    if not vf.mask.any():
                        warnings.append("no face in any sampled frame")
        if not (got_audio or got_video):
            raise MediaError(
                task.media_path,
                "empty",
                "no audio samples or video frames in the requested range"
                + (
                    f" [{task.start}, {task.end}]"
                    if task.end is not None
                    else f" from {task.start} s"
                ),
            )
        res.n_audio, res.n_video, res.n_faces = (
            len(audio_times),
            len(video_times),
            int(video_mask.sum()),
        )
        res.warning = "; ".join(warnings)
        res.total_s = time.perf_counter() - t_start
        meta = {
            "clip_id": task.clip_id,
            "media_path": str(task.media_path),
            "start": task.start,
            "end": task.end,
            "settings": {
                k: v for k, v in dataclasses.asdict(settings).items() if k != "facenet_weights"
            },
            "facenet_weights": getattr(ex["video"].embedder, "weights_source", "unknown")
            if "video" in ex
            else None,
            # which face embedder made the video steps (bundles record it; avemotion.bundle.check_embedder)
            "video_embedder": _embedder_identity(ex["video"].embedder) if "video" in ex else None,
            "source": source,
            "warnings": warnings,
            "versions": _versions(),
            "timings": {k: getattr(res, k) for k in ("decode_s", "audio_s", "video_s", "total_s")},
            "n_faces": res.n_faces,
            "seconds": res.seconds,
        }
        clipfile.save_clip(
            out_path,
            clipfile.ClipFeatures(audio, audio_times, video, video_times, video_mask, meta),
        )
        res.bytes, res.sha256 = file_digest(out_path)
        res.status, res.path = "ok", out_path.name
    except MediaError as exc:
        res.error_kind, res.error = exc.kind, str(exc)
    except (ValueError, RuntimeError, OSError) as exc:
        from avemotion.features.video import FaceNetWeightsMissing

        if isinstance(exc, FaceNetWeightsMissing):
            raise
        logger.debug("clip %s failed", task.clip_id, exc_info=True)
        res.error_kind, res.error = type(exc).__name__, f"{task.media_path}: {exc}"
    res.total_s = time.perf_counter() - t_start
    res.warning = "; ".join(warnings)
    return res
