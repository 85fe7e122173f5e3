"""The end-to-end pipeline shared by ``avemotion analyze`` (offline) and ``avemotion live`` (real time).

::

    settings.py      PipelineSettings (from a bundle), StageTimings/StageTimer, the mode check
    stages.py        the swappable stages: audio stepper, video extractor (cached per process),
                     AVSync factory, WindowPredictor (windows -> WindowResult rows)
    offline.py       analyze_file (a whole file, batch), analyze_stream (a URL read to its end)
    postprocess.py   WindowResult rows, laughter events (hysteresis), EMA, summaries, writers, plot
    live/engine.py   LiveEngine: worker threads, rings, AVSync, batched model calls
    live/sources.py  StreamSource (PyAV URL/file), DeviceSource (camera + microphone), typed errors
    live/metrics.py  capture clocks, latency percentiles, LiveReport

The names other modules use are re-exported here (``from avemotion.pipeline import analyze_file``).
Nothing heavy is imported at import time (PyAV, openSMILE, torch load inside the functions).
"""

from __future__ import annotations

from avemotion.pipeline.live.engine import LiveConfig, LiveEngine
from avemotion.pipeline.live.metrics import LiveReport
from avemotion.pipeline.live.sources import (
    DeviceSource,
    SourceError,
    SourceOpenError,
    SourceReadError,
    StreamSource,
    stream_options,
)
from avemotion.pipeline.offline import AnalysisResult, MediaCoverage, analyze_file, analyze_stream
from avemotion.pipeline.postprocess import WindowResult
from avemotion.pipeline.settings import (
    MODES,
    Mode,
    PipelineSettings,
    StageTimer,
    StageTimings,
    check_mode,
)
from avemotion.pipeline.stages import (
    WindowPredictor,
    get_video_extractor,
    last_window_end,
    make_sync,
    sync_stats_dict,
)

__all__ = [
    "MODES",
    "AnalysisResult",
    "DeviceSource",
    "LiveConfig",
    "LiveEngine",
    "LiveReport",
    "MediaCoverage",
    "Mode",
    "PipelineSettings",
    "SourceError",
    "SourceOpenError",
    "SourceReadError",
    "StageTimer",
    "StageTimings",
    "StreamSource",
    "WindowPredictor",
    "WindowResult",
    "analyze_file",
    "analyze_stream",
    "check_mode",
    "get_video_extractor",
    "last_window_end",
    "make_sync",
    "stream_options",
    "sync_stats_dict",
]
