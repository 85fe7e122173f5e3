"""Real-time analysis: the engine (:mod:`.engine`), its capture sources (:mod:`.sources`) and what it
measures (:mod:`.metrics`)."""

from __future__ import annotations

from avemotion.pipeline.live.engine import LiveConfig, LiveEngine
from avemotion.pipeline.live.metrics import LiveReport
from avemotion.pipeline.live.sources import (
           DeviceSource,
           SourceError,
           SourceOpenError,
           SourceReadError,
           StreamSource,
)

__all__ = ["DeviceSource", "LiveConfig", "LiveEngine", "LiveReport", "SourceError", "SourceOpenError",
           "SourceReadError", "StreamSource"]
