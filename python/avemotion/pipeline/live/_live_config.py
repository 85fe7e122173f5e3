"""The live settings record (part of :mod:`avemotion.pipeline.live.engine`; import from there)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LiveConfig:
    """Live settings. ``max_latency_s``: a window waits at most this long (stream clock) for the lagging
    modality. ``blocking``: capture waits for the workers instead of dropping (files read as fast as
    possible); else video frames beyond ``frame_queue`` waiting ones are dropped (oldest first) and
    audio beyond ``audio_queue_s`` seconds waiting is dropped. ``clock_sync``: AVSync's mode (``none``
    for one muxed stream, ``drift`` for camera + microphone on separate clocks). ``batch_frames``:
    frames embedded per call of the video extractor."""

    mode: str = "av"
    enhanced: bool = False
    ema_alpha: float = 0.4
    max_latency_s: float = 1.5
    frame_queue: int = 4
    audio_queue_s: float = 10.0
    blocking: bool = False
    clock_sync: str = "none"
    batch_frames: int = 4
