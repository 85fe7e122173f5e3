"""Helpers shared by several subcommands: model and FaceNet options, loading them with errors a user
can act on, source URLs, and output paths checked before any work starts.

Every failure here is a :class:`avemotion.cli.UsageError` (exit 2) whose message names the option.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from avemotion._contract import MODES, resolve_model_dir
from avemotion.cli import UsageError

#: URL schemes accepted as sources (FFmpeg protocols), besides local files and file://.
STREAM_SCHEMES = ("udp", "rtp", "rtsp", "rtmp", "http", "https", "tcp", "srt")
FILE_SCHEME = "file"


# --------------------------------------------------------------------------------------------------
# Model and FaceNet options


def add_model_args(p: argparse.ArgumentParser, *, modes: tuple[str, ...] = MODES) -> None:
    """The model bundle, the mode and the FaceNet options (``analyze``, ``live``)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", type=Path, default=None,
                   help="model bundle directory (default $AVEMOTION_MODEL_DIR, else the bundle installed with the package)")
    g.add_argument("--mode", choices=modes, default="av", help="modalities used (default av)")
    w = g.add_mutually_exclusive_group()
    w.add_argument("--facenet-weights", type=Path, metavar="PATH",
                   help="FaceNet weights (.pt state dict, e.g. VGGFace2); default $AVEMOTION_FACENET_WEIGHTS, else the "
                        "converted CASIA-WebFace weights (avemotion weights)")
    w.add_argument("--random-facenet", action="store_true",
                   help="use random FaceNet weights (tests only: video embeddings are meaningless)")
    w.add_argument("--facenet-onnx", type=Path, metavar="PATH",
                   help="a FaceNet ONNX file (avemotion weights --export-onnx) run by ONNX Runtime")
    g.add_argument("--facenet-int8", action=argparse.BooleanOptionalAction, default=None,
                   help="the converted CASIA-WebFace weights' INT8 model on the CPU (default: when `avemotion "
                        "weights` made it, ~2.5x faster FaceNet, cosine >= 0.99 with fp32; --no-facenet-int8: fp32)")
    g.add_argument("--redetect-every", type=int, default=None, metavar="N",
                   help="full MTCNN face detection every N sampled frames, tracking the face between "
                        "(1: every frame; default 5, as `avemotion extract`)")
    a = g.add_mutually_exclusive_group()
    a.add_argument("--no-adapt", action="store_true",
                   help="no online speaker adaptation: normalize audio with the bundle's statistics only "
                        "(default: adapt when the bundle says so, training.online_adaptation)")
    a.add_argument("--adapt-prior", type=float, default=None, metavar="STEPS",
                   help="online speaker adaptation with this prior weight in speech steps (10 per second), "
                        "overriding the bundle's")
    g.add_argument("--laughter-threshold", type=float, default=None, metavar="P",
                   help="laughter probability that starts an event (default: the bundle's calibrated "
                        "laughter_threshold); higher: fewer false alarms, fewer laughs found")
    g.add_argument("--device", type=device_arg, default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where face detection and FaceNet run (default cpu; auto = cuda when available; "
                        "cuda without CUDA warns and uses the CPU, an error with AVEMOTION_STRICT=1)")


def pipeline_settings(predictor: Any, args: argparse.Namespace) -> Any:
    """The bundle's PipelineSettings with the adaptation options (``--no-adapt``, ``--adapt-prior``)
    and ``--laughter-threshold`` applied."""
    import dataclasses
    import math

    from avemotion.pipeline import PipelineSettings

    s = PipelineSettings.from_bundle(predictor.bundle)
    if getattr(args, "no_adapt", False):
        s = dataclasses.replace(s, adaptation_prior_weight=math.inf)
    elif getattr(args, "adapt_prior", None) is not None:
        if not args.adapt_prior >= 0:
            raise UsageError(f"--adapt-prior: expected a number of steps >= 0, got {args.adapt_prior}")
        s = dataclasses.replace(s, adaptation_prior_weight=float(args.adapt_prior))
    t = getattr(args, "laughter_threshold", None)
    if t is not None:
        if not 0.0 < t < 1.0:
            raise UsageError(f"--laughter-threshold: expected a probability in (0, 1), got {t}")
        s = dataclasses.replace(s, laughter_threshold=float(t))
    return s


def device_arg(text: str) -> str:
    """argparse type for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (else exit 2)."""
    from avemotion.features.video import check_device

    try:
        return check_device(text, name="--device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive(args: argparse.Namespace, *names: str) -> None:
    """Each option ``--name`` (attribute ``name``) must be a number > 0 (None allowed: not given)."""
    for name in names:
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise UsageError(f"--{name.replace('_', '-')}: expected > 0, got {v}")


def load_predictor(model: Path | None) -> Any:
    """Load the bundle (``--model``, else the default model directory); a missing or bad bundle is a
    :class:`UsageError` saying what to do."""
    from avemotion.bundle import BundleError
    from avemotion.inference import load_model

    path = resolve_model_dir(model)
    if not (path / "bundle.json").is_file():
        raise UsageError(
            f"--model: no model bundle at {path} (expected {path / 'bundle.json'}). Pass --model DIR or set "
            "AVEMOTION_MODEL_DIR; `avemotion train` and `avemotion export` make one."
        )
    try:
        return load_model(path)
    except BundleError as exc:
        raise UsageError(f"--model: {exc}") from None


def load_extractor(args: argparse.Namespace) -> Any:
    """The video extractor for ``args`` (None in audio mode); missing weights, a device that strict
    mode refuses or an unusable ``--facenet-onnx`` file: :class:`UsageError`."""
    from avemotion.features.video import FaceNetWeightsMissing
    from avemotion.pipeline.stages import get_video_extractor

    if args.mode == "audio":
        return None
    redetect = getattr(args, "redetect_every", None)
    if redetect is not None and redetect < 1:
        raise UsageError(f"--redetect-every: expected an integer >= 1 (frames), got {redetect}")
    device = getattr(args, "device", "cpu")
    if not args.facenet_onnx:  # torch decides (with --facenet-onnx, ONNX Runtime decides for FaceNet)
        from avemotion.features.video import resolve_device

        try:
            device = str(resolve_device(device, name="--device"))
        except (ValueError, RuntimeError) as exc:
            raise UsageError(str(exc)) from None
    try:
        return get_video_extractor(weights=args.facenet_weights, random_weights=args.random_facenet,
                                   onnx=args.facenet_onnx, device=device, redetect_every=redetect,
                                   int8=getattr(args, "facenet_int8", None))
    except ValueError as exc:
        if not getattr(args, "facenet_int8", None):
            raise
        raise UsageError(str(exc)) from None
    except FaceNetWeightsMissing as exc:
        raise UsageError(f"{exc} (or pass --random-facenet for a demo with meaningless video embeddings)") from None
    except RuntimeError as exc:
        if not args.facenet_onnx:
            raise
        # ONNX Runtime refused the file or the provider (strict mode without CUDA): bad input
        raise UsageError(f"--facenet-onnx {args.facenet_onnx} (--device {device}): {exc}") from None



def model_inputs_notice(predictor: Any, mode: str) -> str | None:
    """What the model is fed in ``mode`` (see :func:`avemotion.pipeline.settings.fed_modalities`): the
    notice to print once when a modality the mode extracts is not fed (an audio-only bundle in ``av``
    mode), else None; a mode the model cannot run in (``video`` with an audio-only bundle) is a
    :class:`UsageError`. Predictors without a bundle (test doubles) are fed both."""
    from avemotion.bundle import Bundle, BundleError
    from avemotion.pipeline.settings import modality_notice

    bundle = getattr(predictor, "bundle", None)
    if not isinstance(bundle, Bundle):
        return None
    from avemotion.bundle import trained_modalities

    try:
        return modality_notice(mode, trained_modalities(bundle))
    except (ValueError, BundleError) as exc:
        raise UsageError(f"--mode {mode}: {exc}") from None


def check_model_extractor(predictor: Any, extractor: Any, mode: str) -> None:
    """A bundle made with another face embedder than ``extractor``'s: :class:`UsageError` (exit 2)
    before any work starts (see :func:`avemotion.bundle.check_embedder`)."""
    from avemotion.bundle import BundleError
    from avemotion.pipeline.stages import check_embedder

    try:
        check_embedder(predictor, extractor, mode)
    except BundleError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Sources


def split_source(source: str) -> tuple[str, str]:
    """``(scheme, target)``: ``("file", path)`` for paths and ``file://`` URLs (percent-decoded, as
    ``Path.as_uri()`` writes them; ``file://localhost/...`` too), else the URL's scheme and the URL.
    An unknown scheme is a :class:`UsageError` listing the supported ones."""
    if "://" not in source:
        return FILE_SCHEME, source
    scheme, rest = source.split("://", 1)
    scheme = scheme.lower()
    if scheme == FILE_SCHEME:
        if rest.lower().startswith("localhost/"):
            rest = rest[len("localhost"):]
        return FILE_SCHEME, unquote(rest)
    if scheme not in STREAM_SCHEMES:
        raise UsageError(
            f"{source}: unknown URL scheme {scheme!r}; expected a file path, file:// or one of "
            + ", ".join(f"{s}://" for s in STREAM_SCHEMES)
        )
    return scheme, source


def input_path(source: str, arg: str = "INPUT") -> Path | str:
    """A local file's Path (checked: it exists and is a regular file), or the URL string of a stream."""
    scheme, target = split_source(source)
    if scheme != FILE_SCHEME:
        return source
    p = Path(target)
    if not p.exists():
        raise UsageError(f"{arg}: no such file: {p}")
    if not p.is_file():
        raise UsageError(f"{arg}: not a regular file: {p}")
    return p


# --------------------------------------------------------------------------------------------------
# Outputs (checked before any work starts)


def check_output_file(path: Path, arg: str) -> None:
    """``path`` can be written as a file: it is not an existing directory (or other non-file), and
    the nearest existing folder above it is a writable directory (not a file)."""
    if path.exists() and not path.is_file():
        raise UsageError(f"{arg}: {path} exists and is not a regular file (a directory?); expected a file path")
    _check_parents(path, arg)


def check_output_dir(path: Path, arg: str) -> None:
    """``path`` can be used as an output directory: it is a directory or does not exist yet, and the
    nearest existing folder above it is a writable directory (not a file)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{arg}: {path} exists and is a file; expected a directory (or a path to create)")
    _check_parents(path, arg)


def _check_parents(path: Path, arg: str) -> None:
    for parent in path.absolute().parents:
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise UsageError(f"{arg}: cannot create {path}: {parent} is a file, not a directory")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"{arg}: cannot create {path}: directory {parent} is not writable")
        return


def check_laughter_folder(option: str, folder: str | None) -> None:
    """A laughter folder option (``--calibration-laughter``): None, or a folder holding
    ``wav/*.wav``; else a UsageError that names the option (not the ``--real`` data it joins)."""
    if folder is not None and not any((Path(folder) / "wav").glob("*.wav")):
        raise UsageError(f"{option} {folder}: expected recordings in {Path(folder) / 'wav'}/*.wav "
                         "(scripts/get_calibration_laughter.sh writes them)")
