"""FaceNet weights for the torch embedder (part of :mod:`avemotion.features.video`; import from there).

:func:`find_facenet_weights` resolves the weights file (argument, ``$AVEMOTION_FACENET_WEIGHTS``,
the converted CASIA-WebFace default; never a download), :func:`load_facenet` builds the
InceptionResnetV1 on a device with them (or seeded random weights, tests only).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from avemotion._contract import ENV_FACENET_WEIGHTS
from avemotion.features import facenet_weights as FW
from avemotion.features._video_device import resolve_device
from avemotion.features.facenet_weights import (
    EmbedderIdentity,
    FaceNetWeightsInvalid,
    FaceNetWeightsMissing,
)

logger = logging.getLogger("avemotion.features.video")  # the front module's name: one logger for video features

WEIGHTS_ENV = ENV_FACENET_WEIGHTS
WEIGHTS_FILE = "20180402-114759-vggface2.pt"
WEIGHTS_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
#: Identity name of the seeded random-init network (tests only).
RANDOM_NAME = "facenet-random-init-seed0"


_RANDOM_NET: list[Any] = []

def default_weights_path() -> Path:
    """Where torch's hub cache keeps the VGGFace2 checkpoint (``$TORCH_HOME/hub/checkpoints/...``);
    named in messages, never looked up implicitly (see :func:`find_facenet_weights`)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _vggface2_hint() -> str:
    return (
        f"To use the VGGFace2 weights instead, download {WEIGHTS_URL} (107 MB, facenet-pytorch's release "
        f"asset; facenet-pytorch keeps it at {default_weights_path()}) on a machine with internet and pass "
        f"it with --facenet-weights PATH or {WEIGHTS_ENV}=PATH"
    )


def find_facenet_weights(
    weights: str | os.PathLike[str] | None = None, *, cache: str | os.PathLike[str] | None = None
) -> Path:
    """Resolve the FaceNet weights file: the ``weights`` argument, then ``$AVEMOTION_FACENET_WEIGHTS``
    (a facenet-pytorch state dict such as the VGGFace2 ``.pt``), then the converted CASIA-WebFace state
    dict in the cache (:func:`avemotion.features.facenet_weights.default_weights`, verified against its
    manifest).

    Design choice: torch's hub cache is *not* searched implicitly any more: the default embedder must
    not change with the files that happen to lie on a machine, since model bundles record the embedder
    their video features were made with. Raises :class:`FaceNetWeightsMissing` naming every place
    looked at and the fix (``avemotion weights``, or how to use VGGFace2), or
    :class:`FaceNetWeightsInvalid` for an altered cache file. A path given explicitly (argument or
    environment) that does not exist is an error too.
    """
    return _resolve_weights(weights, cache)[0]


def _resolve_weights(
    weights: str | os.PathLike[str] | None, cache: str | os.PathLike[str] | None
) -> tuple[Path, EmbedderIdentity | None]:
    """(path, identity when known without reading the file: the converted default's, from its manifest)."""
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise FaceNetWeightsMissing(f"FaceNet weights file given as argument not found: {p}")
        return p, None
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FaceNetWeightsMissing(f"{WEIGHTS_ENV}={env} but no such file")
        return p, None
    try:
        return FW.default_weights("state_dict", cache)
    except FaceNetWeightsInvalid:
        raise
    except FaceNetWeightsMissing as exc:
        raise FaceNetWeightsMissing(
            f"FaceNet weights not found. Looked at: the weights argument (not given), ${WEIGHTS_ENV} (not set), "
            f"the converted default CASIA-WebFace weights ({exc}). Nothing is downloaded at run time. "
            f"{_vggface2_hint()}. For tests only: allow_random_weights=True (CLI: --random-facenet / "
            "--allow-random-weights)."
        ) from None


def _identity_of_file(path: Path, state: dict[str, Any]) -> EmbedderIdentity:
    name = "facenet-vggface2-20180402-114759" if path.name == WEIGHTS_FILE else f"facenet-state-dict:{path.name}"
    return EmbedderIdentity(name, FW.weights_digest(state))


def load_facenet(
    weights: str | os.PathLike[str] | None = None,
    *,
    allow_random_weights: bool = False,
    device: Any = "cpu",
    cache: str | os.PathLike[str] | None = None,
) -> Any:
    """InceptionResnetV1 (eval mode, outputs L2-normalized 512-d) on ``device`` (see
    :func:`resolve_device`; default the CPU) with the weights :func:`find_facenet_weights` resolves:
    ``weights``, else random ones when ``allow_random_weights`` (seeded, deterministic, with a warning:
    tests and benchmarks only), else ``$AVEMOTION_FACENET_WEIGHTS``, else the converted CASIA-WebFace
    weights. ``net.avemotion_weights`` is the file (or ``"random"``), ``net.avemotion_identity`` the
    :class:`EmbedderIdentity`.
    """
    import copy

    import torch

    dev = resolve_device(device)
    if dev.type != "cpu":
        # built on the CPU (same seeded init / same checkpoint), then copied to the device, so the
        # per-process cached random CPU net is never moved away from under other users
        cpu = load_facenet(weights, allow_random_weights=allow_random_weights, cache=cache)
        net = copy.deepcopy(cpu).to(dev)
        net.avemotion_weights, net.avemotion_identity = cpu.avemotion_weights, cpu.avemotion_identity
        return net
    from facenet_pytorch import InceptionResnetV1

    if weights is None and allow_random_weights:
        logger.warning("FaceNet uses RANDOM weights (allow_random_weights=True): embeddings are meaningless")
        if _RANDOM_NET:  # initialising 23M parameters takes seconds; the seeded result is always the same
            return _RANDOM_NET[0]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = InceptionResnetV1(pretrained=None, classify=False)
        net.avemotion_weights = "random"
        net.avemotion_identity = EmbedderIdentity(RANDOM_NAME, FW.weights_digest(net.state_dict()))
        _RANDOM_NET.append(net.eval())
        return net
    path, identity = _resolve_weights(weights, cache)
    net = InceptionResnetV1(pretrained=None, classify=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not an InceptionResnetV1 state dict (got {type(state).__name__})")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not an InceptionResnetV1 checkpoint (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    net.avemotion_weights = str(path)
    net.avemotion_identity = identity or _identity_of_file(path, state)
    return net.eval()
