"""What ``avemotion extract`` works on: :class:`ExtractSettings`, one clip's :class:`ClipTask` (read
from a manifest by :func:`read_tasks`) and its :class:`ClipResult` (one ``index.csv`` row,
``INDEX_COLUMNS``). Re-exported by :mod:`avemotion.features.extract`; import from there.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from avemotion._contract import DEFAULT_AUDIO_MODE, WINDOWS

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
    #: INT8 FaceNet for the converted default weights on the CPU (None: when converted; see
    #: avemotion.features.facenet_weights.int8_onnx)
    facenet_int8: bool | None = None
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
