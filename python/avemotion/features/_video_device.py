"""Device specs for the video features (part of :mod:`avemotion.features.video`; import from there).

:func:`check_device` validates a spec without torch, :func:`resolve_device` turns it into a
``torch.device`` (``"auto"``, the CPU fallback or ``RuntimeError`` in strict mode, see the front
module's docstring).
"""

from __future__ import annotations

import logging
from typing import Any

from avemotion._contract import strict_from_env

logger = logging.getLogger("avemotion.features.video")  # the front module's name: one logger for video features

DEVICES_HELP = "'cpu', 'cuda', 'cuda:N' or 'auto'"

def check_device(device: Any, *, name: str = "device") -> str:
    """Validate a device spec without touching torch: returns the normalised text (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"auto"``); anything else is a ``ValueError`` naming ``name`` and the accepted values."""
    text = str(device).strip().lower() if isinstance(device, str) or _is_torch_device(device) else None
    if text in ("cpu", "cuda", "auto"):
        return text
    if text is not None and text.startswith("cuda:") and text[5:].isdigit():
        return f"cuda:{int(text[5:])}"
    raise ValueError(f"{name}: expected {DEVICES_HELP}, got {device!r}")


def _is_torch_device(x: Any) -> bool:
    return type(x).__name__ == "device" and type(x).__module__ == "torch"


def resolve_device(device: Any = "cpu", *, strict: bool | None = None, name: str = "device") -> Any:
    """The ``torch.device`` to run on for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``
    or a ``torch.device``).

    ``"auto"``: ``cuda`` when ``torch.cuda.is_available()``, else ``cpu`` (logged at INFO).
    ``"cuda"``/``"cuda:N"`` without CUDA: a warning and ``cpu``, or ``RuntimeError`` when ``strict``
    (default: ``AVEMOTION_STRICT=1``). ``"cuda:N"`` with ``N >= torch.cuda.device_count()``:
    ``ValueError``. A bad spec: ``ValueError`` naming ``name``.
    """
    import torch

    text = check_device(device, name=name)
    strict = strict_from_env() if strict is None else strict
    has_cuda = bool(torch.cuda.is_available())
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        dev = torch.device("cuda" if has_cuda else "cpu")
        logger.info("%s=auto: using %s (torch.cuda.is_available() is %s)", name, dev, has_cuda)
        return dev
    if not has_cuda:
        why = (
            f"{name}={text!r} but torch sees no CUDA device (torch {torch.__version__}, "
            f"built with CUDA {torch.version.cuda or 'none'}; available: 'cpu')"
        )
        if strict:
            raise RuntimeError(f"{why}; strict mode (AVEMOTION_STRICT=1) forbids falling back to the CPU")
        logger.warning("%s; using the CPU", why)
        return torch.device("cpu")
    dev = torch.device(text)
    count = int(torch.cuda.device_count())
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"{name}: {text!r} but only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})")
    return dev
