"""Per-clip feature extraction over files and manifests (``avemotion extract``).

One task = one clip (``ClipTask``: clip id, media file, start/end seconds). :func:`extract_clip` is the
task function: it decodes the clip with PyAV, computes audio steps (:mod:`.audio`) and video steps
(:mod:`.video`), writes ``{out_dir}/{clip_id}.npz`` atomically (:mod:`.clipfile`) and returns a
:class:`ClipResult`. It never raises for a bad clip: corrupt or empty files, a missing stream, an odd
sample rate, no face... become a result with ``status`` ``error`` (no file written) or ``ok`` with a
``warning`` (a file written):

- unreadable / corrupt / empty (0 bytes) file, range outside the media, nothing decoded -> ``error``;
- audio stream present but unusable (sample rate below 8 kHz, decode failure) -> ``error``;
- no audio stream, or no video stream -> ``ok`` with zero steps for that modality and a warning
  (``error`` when neither modality gives anything);
- no face in any sampled frame -> ``ok``, every video step masked, warning ``no face``;
- clip shorter than one audio window -> ``ok``, zero audio steps, warning.

:func:`extract_corpus` runs tasks in a local process pool (default) or on Ray (``backend="ray"``,
same task function) and keeps ``{out_dir}/index.csv`` (``INDEX_COLUMNS``; rewritten atomically as
clips finish and at the end). Every file is written through ``avemotion._io`` (0666 minus the umask).
Pool workers die with the process that started them (:func:`die_with_parent`), so a killed run leaves
no worker behind.

Resume: a clip whose ``.npz`` exists is skipped only when the file is intact: its size and sha256 match
what ``index.csv`` recorded when it was written (columns ``bytes``, ``sha256``), or, where the index
has no such record (lost, or written by an older version), it loads through ``clipfile.load_clip``.
A damaged file (truncated, altered) is removed with a warning and the clip extracted again. Files
appear only when complete, so a killed run leaves no partial output; clips that failed are tried again.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from avemotion._contract import DEFAULT_AUDIO_MODE, WINDOWS

logger = logging.getLogger(__name__)

INDEX_NAME = "index.csv"
INDEX_COLUMNS = (
    "clip_id",
    "status",
    "path",
    "error",
    "n_audio",
    "n_video",
    "seconds",
    "n_faces",
    "error_kind",
    "warning",
    "media_path",
    "start",
    "end",
    "decode_s",
    "audio_s",
    "video_s",
    "total_s",
    "bytes",
    "sha256",
)
_BAD_ID = re.compile(r"[/\\\x00]")


@dataclasses.dataclass(frozen=True)
class ExtractSettings:
    """What to extract and how (recorded in each clip's ``meta``).

    ``device``: where MTCNN and FaceNet run: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``,
    ``"auto"`` (see :func:`avemotion.features.video.resolve_device`; with ``facenet_onnx`` it picks
    ONNX Runtime's provider for FaceNet). GPU rule for :func:`extract_corpus`: when the device
    resolves to CUDA, the process backend runs a single worker (in this process: one CUDA context,
    batches of ``batch_size`` frames keep the GPU busy; more workers would each load the nets into
    the same GPU's memory and contend for it), with a warning if ``workers`` > 1; the Ray backend
    refuses a CUDA device (``ValueError``).
    """

    audio: bool = True
    video: bool = True
    audio_window_s: float = WINDOWS.audio_window_s
    audio_hop_s: float = WINDOWS.audio_hop_s
    audio_mode: str = DEFAULT_AUDIO_MODE  # "sliding" (default) or "window" (avemotion.features.audio)
    video_fps: float = WINDOWS.video_fps
    redetect_every: int = 5  # face tracking between full detections, as analyze/live (1: every frame)
    facenet_weights: str | None = None
    facenet_onnx: str | None = None
    allow_random_weights: bool = False
    min_face_prob: float = 0.9
    detect_max_side: int | None = 320
    mtcnn_onnx: str | None = None
    batch_size: int = 8
    device: str = "cpu"

    def __post_init__(self) -> None:
        from avemotion.features.video import check_device

        object.__setattr__(self, "device", check_device(self.device, name="device"))
        if not (self.audio or self.video):
            raise ValueError("at least one of audio, video must be extracted")
        if not self.video_fps > 0:
            raise ValueError(f"video_fps must be > 0, got {self.video_fps}")
        from avemotion.features.audio import AudioConfig

        AudioConfig(self.audio_window_s, self.audio_hop_s, self.audio_mode)
        if isinstance(self.redetect_every, bool) or int(self.redetect_every) != self.redetect_every \
                or self.redetect_every < 1:
            raise ValueError(f"redetect_every must be an integer >= 1 (frames), got {self.redetect_every!r}")


@dataclasses.dataclass(frozen=True)
class ClipTask:
    """One clip: ``media_path`` between ``start`` and ``end`` seconds (``end=None``: to the end)."""

    clip_id: str
    media_path: str
    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        if not self.clip_id or _BAD_ID.search(self.clip_id) or self.clip_id.startswith("."):
            raise ValueError(
                f"clip_id must be a non-empty file name without '/', '\\\\' or a leading '.', got {self.clip_id!r}"
            )


@dataclasses.dataclass
class ClipResult:
    """Outcome of one clip (one row of ``index.csv``); times in seconds."""

    clip_id: str
    status: str  # "ok" | "error"
    path: str = ""
    error: str = ""
    n_audio: int = 0
    n_video: int = 0
    seconds: float = 0.0
    n_faces: int = 0
    error_kind: str = ""
    warning: str = ""
    media_path: str = ""
    start: float = 0.0
    end: float | None = None
    decode_s: float = 0.0
    audio_s: float = 0.0
    video_s: float = 0.0
    total_s: float = 0.0
    bytes: int = 0  # size of the .npz as written (resume checks it)
    sha256: str = ""  # its sha256 (resume checks it)

    def row(self) -> dict[str, str]:
        d = dataclasses.asdict(self)
        out = {}
        for k in INDEX_COLUMNS:
            v = d[k]
            out[k] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
        return out

    @classmethod
    def from_row(cls, row: dict[str, str]) -> ClipResult:
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            v = row.get(f.name, "")
            if f.name in ("n_audio", "n_video", "n_faces", "bytes"):
                kw[f.name] = int(v or 0)
            elif f.name == "end":
                kw[f.name] = float(v) if v else None
            elif f.name in ("seconds", "start", "decode_s", "audio_s", "video_s", "total_s"):
                kw[f.name] = float(v or 0)
            else:
                kw[f.name] = v
        return cls(**kw)


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
            from avemotion.features import video as V

            # the embedder analyze/live use (default: the converted CASIA-WebFace weights in ONNX Runtime)
            embedder = V.make_embedder(
                weights=settings.facenet_weights,
                random_weights=settings.allow_random_weights and not settings.facenet_weights,
                onnx=settings.facenet_onnx,
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


# --- index -------------------------------------------------------------------------------------------
def read_index(out_dir: str | os.PathLike[str]) -> dict[str, ClipResult]:
    """Rows of ``{out_dir}/index.csv`` by clip id (empty when there is none)."""
    p = Path(out_dir) / INDEX_NAME
    if not p.is_file():
        return {}
    with p.open(newline="") as fh:
        return {r["clip_id"]: ClipResult.from_row(r) for r in csv.DictReader(fh)}


def write_index(out_dir: str | os.PathLike[str], results: Iterable[ClipResult]) -> Path:
    """Write ``index.csv`` atomically (``avemotion._io``: temp file + ``os.replace``, 0666 minus umask)."""
    from avemotion._io import atomic_write_text

    p = Path(out_dir) / INDEX_NAME
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(INDEX_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow(r.row())
    return atomic_write_text(p, buf.getvalue())


def file_digest(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size in bytes, sha256 hex)`` of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _result_from_file(task: ClipTask, path: Path) -> ClipResult:
    from avemotion.features.clipfile import load_clip

    c = load_clip(path)
    t = c.meta.get("timings", {})
    size, digest = file_digest(path)
    return ClipResult(
        task.clip_id,
        "ok",
        path.name,
        "",
        len(c.audio_times),
        len(c.video_times),
        float(c.meta.get("seconds", 0.0)),
        int(c.video_mask.sum()),
        "",
        "; ".join(c.meta.get("warnings", [])),
        str(task.media_path),
        task.start,
        task.end,
        **{k: float(t.get(k, 0.0)) for k in ("decode_s", "audio_s", "video_s", "total_s")},
        bytes=size,
        sha256=digest,
    )


def _verified_result(task: ClipTask, path: Path, row: ClipResult | None) -> ClipResult | None:
    """The index row of a finished clip whose ``.npz`` is intact, else None (extract it again).

    With a size and sha256 recorded in the index, the file must match both (a truncated, altered or
    replaced file does not). Without them (an index of an older version, or none), the file must load
    through :func:`avemotion.features.clipfile.load_clip`, and its row is rebuilt from the file.
    """
    if row is not None and row.status == "ok" and row.sha256:
        try:
            if path.stat().st_size == row.bytes and file_digest(path) == (row.bytes, row.sha256):
                return row
        except OSError as exc:
            logger.warning("%s: unreadable (%s); extracting it again", path, exc)
            return None
        logger.warning(
            "%s: does not match index.csv (size/sha256 recorded when it was written); extracting "
            "it again",
            path,
        )
        return None
    import zipfile
    import zlib

    try:
        return _result_from_file(task, path)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        logger.warning(
            "%s: not a readable clip file (%s: %s); extracting it again",
            path,
            type(exc).__name__,
            exc,
        )
        return None


# --- manifests ---------------------------------------------------------------------------------------
def read_tasks(
    manifest: str | os.PathLike[str], *, media_root: str | os.PathLike[str] | None = None
) -> list[ClipTask]:
    """Clip tasks from a manifest CSV (``docs/contracts.md``), read and validated by
    ``avemotion.data.manifest`` (every column, labels, splits, times, unique clip ids).

    Relative ``media_path`` values are resolved against ``media_root`` (default: the current
    directory). Raises ``ValueError`` (``ManifestError``) naming ``file:line`` for a bad row.
    """
    from avemotion.data.manifest import iter_numbered  # the one manifest reader (strict, file:line)

    p = Path(manifest)
    tasks: list[ClipTask] = []
    for line, row in iter_numbered(p):
        media = Path(row.media_path)
        if not media.is_absolute() and media_root is not None:
            media = Path(media_root) / media
        try:
            tasks.append(ClipTask(row.clip_id, str(media), row.start, row.end))
        except ValueError as exc:
            raise ValueError(f"{p}:{line}: {exc}") from None
    return tasks


# --- running many clips ------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, *, poll_s: float = 1.0) -> str:
    """Make this process end when ``parent_pid`` (its parent) ends, however the parent ends.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills this process when the parent
    thread that started it exits (a pool's workers are started by the thread that runs the pool, which
    outlives them); then, for the race where the parent died before the ``prctl``, ``getppid()`` is
    compared with ``parent_pid``. Elsewhere (or if ``prctl`` fails): a daemon thread polls
    ``getppid()`` every ``poll_s`` seconds. Returns ``"prctl"`` or ``"watchdog"`` (what was set up).
    """
    how = "watchdog"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
            else:
                logger.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            logger.debug("prctl unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent is already gone (reparented to init/a subreaper)
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "watchdog":

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(poll_s)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="avemotion-parent-watchdog", daemon=True).start()
    return how


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Pool worker set-up: die with the parent (:func:`die_with_parent`: a killed ``extract`` leaves
    no worker behind), split the CPUs between workers (torch, ONNX Runtime, OpenMP)."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("AVEMOTION_WORKER_THREADS", str(threads))


def _pool_map(
    tasks: Sequence[ClipTask], out_dir: Path, settings: ExtractSettings, workers: int
) -> Iterable[ClipResult]:
    if workers <= 1:
        for t in tasks:
            yield extract_clip(t, out_dir, settings)
        return
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    with cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    ) as pool:
        futs = {pool.submit(extract_clip, t, out_dir, settings): t for t in tasks}
        try:
            for f in cf.as_completed(futs):
                try:
                    yield f.result()
                except Exception as exc:
                    from avemotion.features.video import FaceNetWeightsMissing

                    if isinstance(exc, FaceNetWeightsMissing):
                        raise
                    t = futs[f]
                    yield ClipResult(
                        t.clip_id,
                        "error",
                        error=f"{type(exc).__name__}: {exc}",
                        error_kind="worker",
                        media_path=t.media_path,
                        start=t.start,
                        end=t.end,
                    )
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def import_ray() -> Any:
    """``import ray``, or a RuntimeError saying how to install it (the ``[cluster]`` extra).

    Sets ``RAY_USAGE_STATS_ENABLED=0`` unless the environment says otherwise: a runtime this
    process starts sends no usage report out of the machine.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            "--backend ray needs Ray, which is not installed: pip install 'avemotion[cluster]' "
            "(or pip install ray; or use the default process pool)"
        ) from exc
    return ray


def _ray_map(
    tasks: Sequence[ClipTask], out_dir: Path, settings: ExtractSettings, address: str | None
) -> Iterable[ClipResult]:
    """Run :func:`extract_clip` as Ray tasks (one CPU each) and yield results as they finish.

    Joins the running Ray runtime if this process has one, else ``ray.init(address=address)``:
    ``None`` starts a local runtime for this run (stopped at the end), ``"auto"`` or
    ``"HOST:PORT"`` joins a cluster (only disconnected at the end). Clip failures are rows, as
    with the pool; a task that dies (worker crash, node lost) is an ``error`` row of kind
    ``worker``; missing FaceNet weights stop the run. Unfinished tasks are cancelled when the run
    stops early (an interrupt or an exception).
    """
    ray = import_ray()
    from avemotion.features.video import FaceNetWeightsMissing

    started = False
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
        started = True
    pending: dict[Any, ClipTask] = {}
    try:
        remote = ray.remote(num_cpus=1)(extract_clip)
        pending = {remote.remote(t, str(out_dir), settings): t for t in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                t = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:
                    # a task's exception arrives as ray's RayTaskError, which is also an instance
                    # of the original exception's class
                    if isinstance(exc, FaceNetWeightsMissing):
                        raise
                    yield ClipResult(
                        t.clip_id,
                        "error",
                        error=f"{type(exc).__name__}: {exc}",
                        error_kind="worker",
                        media_path=t.media_path,
                        start=t.start,
                        end=t.end,
                    )
    finally:
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception as exc:  # already finished or its node is gone
                logger.debug("ray.cancel: %s", exc)
        if started:
            ray.shutdown()


def gpu_workers(settings: ExtractSettings, workers: int, backend: str = "process") -> int:
    """Workers to use: ``workers``, or 1 when video runs on CUDA (see :class:`ExtractSettings`).

    Raises ``ValueError`` for a CUDA device with the Ray backend, ``RuntimeError`` for ``"cuda"``
    without CUDA in strict mode (:func:`avemotion.features.video.resolve_device`).
    """
    if not settings.video or settings.device == "cpu":
        return workers
    from avemotion.features.video import resolve_device

    if resolve_device(settings.device).type != "cuda":
        return workers
    if backend == "ray":
        raise ValueError(
            f"device={settings.device!r}: CUDA with the ray backend is not supported "
            "(every Ray worker would load the nets on the GPU); use backend 'process' or device 'cpu'"
        )
    if workers > 1:
        logger.warning(
            "device=%s: video on CUDA runs in one worker (asked for %d workers)",
            settings.device,
            workers,
        )
    return 1


def extract_corpus(
    tasks: Sequence[ClipTask],
    out_dir: str | os.PathLike[str],
    settings: ExtractSettings = ExtractSettings(),
    *,
    workers: int = 1,
    backend: str = "process",
    resume: bool = True,
    ray_address: str | None = None,
    progress: Callable[[ClipResult], None] | None = None,
    index_every_s: float = 5.0,
) -> list[ClipResult]:
    """Extract every task into ``out_dir`` and write ``index.csv``; returns one result per task (task order).

    ``backend``: ``"process"`` (a spawn-context process pool of ``workers``; 1 = in this process) or
    ``"ray"`` (``ray.init(address=ray_address)``, same task function, one CPU per clip; ``workers``
    is not used: the cluster's CPUs decide; see :func:`_ray_map`). ``resume``: skip clips whose
    ``.npz`` exists and is intact (module docstring; their index row is kept, or rebuilt from the
    file); index rows of clips that are not among ``tasks`` (earlier runs into the same directory)
    are kept. ``progress`` is called once
    per finished or skipped clip. The index is rewritten at most every ``index_every_s`` seconds
    while running and at the end (also on interruption).
    """
    if backend not in ("process", "ray"):
        raise ValueError(f"backend must be 'process' or 'ray', got {backend!r}")
    workers = gpu_workers(settings, workers, backend)
    ids = [t.clip_id for t in tasks]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate clip ids: {dup[:5]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = read_index(out)
    results: dict[str, ClipResult] = {}
    todo: list[ClipTask] = []
    for t in tasks:
        f = out / f"{t.clip_id}.npz"
        if resume and f.is_file():
            r = _verified_result(t, f, old.get(t.clip_id))
            if r is None:  # damaged: never leave it where a reader would take it as this clip's
                f.unlink(missing_ok=True)
                todo.append(t)
                continue
            results[t.clip_id] = r
            if progress:
                progress(r)
        else:
            todo.append(t)
    if not resume:
        for t in tasks:
            (out / f"{t.clip_id}.npz").unlink(missing_ok=True)

    wanted = set(ids)
    others = [
        r for cid, r in old.items() if cid not in wanted
    ]  # rows of earlier runs over other clips

    def ordered() -> list[ClipResult]:
        return [results[t.clip_id] for t in tasks if t.clip_id in results]

    def index_rows() -> list[ClipResult]:
        return ordered() + others

    logger.info(
        "%d clips: %d done before, %d to extract (%s backend)",
        len(tasks),
        len(results),
        len(todo),
        backend,
    )
    last = time.monotonic()
    it = (
        _ray_map(todo, out, settings, ray_address)
        if backend == "ray"
        else _pool_map(todo, out, settings, workers)
    )
    try:
        for r in it:
            results[r.clip_id] = r
            if r.status != "ok":
                logger.warning("clip %s: %s", r.clip_id, r.error)
            if progress:
                progress(r)
            if time.monotonic() - last > index_every_s:
                write_index(out, index_rows())
                last = time.monotonic()
    finally:
        try:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # stops the pool / cancels Ray tasks now, not when garbage-collected
        finally:
            write_index(out, index_rows())
    return ordered()
