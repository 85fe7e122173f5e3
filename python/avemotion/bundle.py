"""Model bundles: a directory holding everything needed to run the two-head model.

Layout (docs/contracts.md)::

    model.onnx                        two-head model (inputs audio, audio_mask, video, video_mask;
                                      outputs emotion (B, 6) softmax, laughter (B, 1) sigmoid)
    audio_normalization_stats.pkl     train-split mean/std of the 89 audio dims
    video_normalization_stats.pkl     train-split mean/std of the 512 video dims
    bundle.json                       written last; describes and fingerprints the rest

``bundle.json`` (format ``avemotion-bundle``, ``format_version`` 1)::

    labels               class order of the emotion head (6 names)
    laughter_threshold   laugh_prob >= threshold  ->  Prediction.laughing
    dims                 {"audio": 89, "video": 512}
    inputs / outputs     contract role -> tensor name in model.onnx
                         ({"audio": ..., "audio_mask": ..., "video": ..., "video_mask": ...},
                          {"emotion": ..., "laughter": ...})
    window_s, hop_s      analysis window the model was trained on (seconds)
    features             extractor settings (audio_window_s, audio_hop_s, audio_mode, video_fps, ...);
                         audio_mode absent = "window" (check_audio_mode refuses another mode)
    files                {"model.onnx": {"sha256": ..., "bytes": ...}, ...} for every file above
    training             provenance (free-form: data, config, commit, metrics)
    created, avemotion_version

``write_bundle`` copies the model and both stats pickles into ``out_dir`` (each atomically), then
writes ``bundle.json`` atomically, last; an existing ``bundle.json`` is removed first, so an interrupted
rewrite reads as "incomplete", never as a valid bundle. ``read_bundle`` checks that every file is
present, has the recorded size (else "truncated") and sha256 (else "altered"), that the stats' dims
agree with ``dims``; ``check_model_io`` checks that the model's inputs/outputs carry the recorded
names and dims. Every failure is a ``BundleError`` (a ``ValueError``) naming the file, the expected
and the actual value.

Layout: this module holds :func:`write_bundle`, :func:`read_bundle` and :func:`record_embedder` and
re-exports the rest: names, defaults, :class:`Bundle`, settings and audio-mode checks
(``_bundle_format``), :func:`check_model_io` (``_bundle_model``), the embedder / modality records
(``_bundle_embedder``). Import every name from here.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._bundle_embedder import (
    SYNTHETIC_EMBEDDER,
    TRAINED_MODALITIES_KEY,
    VIDEO_EMBEDDER_KEY,
    _embedder_dict,
    bundle_embedder,
    check_embedder,
    trained_modalities,
)
from avemotion._bundle_format import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    BUNDLE_JSON,
    DEFAULT_FEATURES,
    DEFAULT_INPUTS,
    DEFAULT_LABELS,
    DEFAULT_OUTPUTS,
    MODALITIES,
    MODEL_FILE,
    SETTINGS_KEYS,
    STATS_FILES,
    Bundle,
    BundleError,
    _load_stats,
    _require,
    _settings,
    bundle_audio_mode,
    check_audio_mode,
    sha256_file,
)
from avemotion._bundle_model import _model_io, check_model_io
from avemotion._contract import WINDOWS, resolve_model_dir
from avemotion._io import atomic_copy as _atomic_copy
from avemotion._io import atomic_write_bytes as _atomic_write_bytes

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "BUNDLE_JSON",
    "DEFAULT_FEATURES",
    "DEFAULT_INPUTS",
    "DEFAULT_LABELS",
    "DEFAULT_OUTPUTS",
    "MODALITIES",
    "MODEL_FILE",
    "SETTINGS_KEYS",
    "STATS_FILES",
    "SYNTHETIC_EMBEDDER",
    "TRAINED_MODALITIES_KEY",
    "VIDEO_EMBEDDER_KEY",
    "Bundle",
    "BundleError",
    "bundle_audio_mode",
    "bundle_embedder",
    "check_audio_mode",
    "check_embedder",
    "check_model_io",
    "read_bundle",
    "record_embedder",
    "sha256_file",
    "trained_modalities",
    "write_bundle",
]

log = logging.getLogger(__name__)


def write_bundle(
    out_dir: str | os.PathLike[str],
    *,
    onnx_path: str | os.PathLike[str],
    stats_dir: str | os.PathLike[str],
    training: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bundle to ``out_dir`` and return its path.

    Copies ``onnx_path`` to ``model.onnx`` and ``{audio,video}_normalization_stats.pkl`` from
    ``stats_dir``; ``settings`` may set ``labels``, ``laughter_threshold``, ``window_s``, ``hop_s``,
    ``features`` (merged over the defaults), ``inputs``/``outputs`` (role -> tensor name, merged over
    the contract's names). ``training`` is stored as provenance (must be JSON-serializable).
    Before writing anything it checks that the stats and the model agree (dims, names); a
    ``BundleError``/``ValueError`` leaves ``out_dir`` untouched.
    """
    out = Path(out_dir)
    src_model = Path(onnx_path)
    src_stats = Path(stats_dir)
    if not src_model.is_file():
        raise FileNotFoundError(f"onnx_path: no such file: {src_model}")
    cfg = _settings(settings)
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in MODALITIES:
        p = src_stats / STATS_FILES[m]
        if not p.is_file():
            raise FileNotFoundError(f"stats_dir: expected {STATS_FILES[m]} in {src_stats}, not found")
        stats[m] = _load_stats(p, m)
    dims = {m: int(stats[m][0].shape[0]) for m in MODALITIES}
    try:
        json.dumps(dict(training or {}))
    except TypeError as exc:
        raise ValueError(f"training: expected JSON-serializable provenance: {exc}") from exc
    probe = Bundle(path=out, labels=tuple(cfg["labels"]), laughter_threshold=cfg["laughter_threshold"],
                   dims=dims, inputs=cfg["inputs"], outputs=cfg["outputs"], window_s=cfg["window_s"],
                   hop_s=cfg["hop_s"], features=cfg["features"], training=dict(training or {}),
                   audio_mean=stats["audio"][0], audio_std=stats["audio"][1],
                   video_mean=stats["video"][0], video_std=stats["video"][1])
    ins, outs = _model_io(src_model)
    check_model_io(probe, ins, outs, model_path=src_model)

    out.mkdir(parents=True, exist_ok=True)
    (out / BUNDLE_JSON).unlink(missing_ok=True)  # an interrupted rewrite must not look valid
    _atomic_copy(src_model, out / MODEL_FILE)
    for m in MODALITIES:
        _atomic_copy(src_stats / STATS_FILES[m], out / STATS_FILES[m])
    files = {}
    for name in (MODEL_FILE, *STATS_FILES.values()):
        p = out / name
        files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    from avemotion import __version__

    meta = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        **cfg,
        "dims": dims,
        "files": files,
        "training": dict(training or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "avemotion_version": __version__,
    }
    _atomic_write_bytes(out / BUNDLE_JSON, (json.dumps(meta, indent=2) + "\n").encode())
    log.info("wrote model bundle %s (audio %d dims, video %d dims)", out, dims["audio"], dims["video"])
    return out


def read_bundle(path: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Bundle:
    """Read ``bundle.json`` and the stats of the bundle at ``path`` (None: the default model directory,
    ``avemotion._contract.resolve_model_dir``); with ``verify`` (default) also check every file's size
    and sha256 and that the stats' dims agree with ``dims``.
    Raises ``BundleError`` (or ``FileNotFoundError`` when ``path`` is not a directory)."""
    root = resolve_model_dir(path)
    if root.name == BUNDLE_JSON and root.is_file():
        root = root.parent
    if not root.is_dir():
        raise FileNotFoundError(f"path: model bundle directory not found: {root}")
    bj = root / BUNDLE_JSON
    if not bj.is_file():
        present = sorted(p.name for p in root.iterdir())
        raise BundleError(
            f"{bj}: missing (the directory is not a complete model bundle; it holds {present}); "
            "write one with avemotion.bundle.write_bundle"
        )
    try:
        meta = json.loads(bj.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{bj}: not valid JSON ({exc}); the file is damaged or truncated") from exc
    if not isinstance(meta, dict):
        raise BundleError(f"{bj}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{bj}: expected format {BUNDLE_FORMAT!r}, got {meta.get('format')!r}")
    fv = meta.get("format_version")
    if fv != BUNDLE_FORMAT_VERSION:
        raise BundleError(f"{bj}: expected format_version {BUNDLE_FORMAT_VERSION}, got {fv!r}; upgrade avemotion")
    labels = _require(meta, "labels", list, bj)
    thr = float(_require(meta, "laughter_threshold", (int, float), bj))
    dims_raw = _require(meta, "dims", dict, bj)
    dims = {}
    for m in MODALITIES:
        d = dims_raw.get(m)
        if not isinstance(d, int) or isinstance(d, bool) or d <= 0:
            raise BundleError(f"{bj}: dims[{m!r}]: expected a positive int, got {d!r}")
        dims[m] = d
    inputs = dict(_require(meta, "inputs", dict, bj))
    outputs = dict(_require(meta, "outputs", dict, bj))
    if set(inputs) != set(DEFAULT_INPUTS):
        raise BundleError(f"{bj}: inputs: expected roles {sorted(DEFAULT_INPUTS)}, got {sorted(inputs)}")
    if set(outputs) != set(DEFAULT_OUTPUTS):
        raise BundleError(f"{bj}: outputs: expected roles {sorted(DEFAULT_OUTPUTS)}, got {sorted(outputs)}")
    files = _require(meta, "files", dict, bj)
    for name in (MODEL_FILE, *STATS_FILES.values()):
        if name not in files:
            raise BundleError(f"{bj}: 'files' has no entry for {name}")
    for name, info in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in (".", "..") or not isinstance(info, dict):
            raise BundleError(f"{bj}: 'files' entry {name!r}: expected a plain file name with a sha256 record")
    if verify:
        for name, info in files.items():
            p = root / name
            if not p.is_file():
                raise BundleError(f"{p}: missing (bundle.json lists it with sha256 {info.get('sha256')})")
            size = p.stat().st_size
            want = info.get("bytes")
            if isinstance(want, int) and size != want:
                kind = "truncated" if size < want else "has grown"
                raise BundleError(f"{p}: {kind}: expected {want} bytes, got {size}")
            digest = sha256_file(p)
            if digest != info.get("sha256"):
                raise BundleError(
                    f"{p}: altered: sha256 {digest} does not match bundle.json's {info.get('sha256')}"
                )
    stats = {}
    for m in MODALITIES:
        p = root / STATS_FILES[m]
        if not p.is_file():
            raise BundleError(f"{p}: missing")
        mean, std = _load_stats(p, m)
        if mean.shape[0] != dims[m]:
            raise BundleError(f"{p}: {m} stats have {mean.shape[0]} dims, bundle.json dims[{m!r}] is {dims[m]}")
        stats[m] = (mean, std)
    return Bundle(
        path=root, labels=tuple(str(x) for x in labels), laughter_threshold=thr, dims=dims, inputs=inputs,
        outputs=outputs, window_s=float(meta.get("window_s", WINDOWS.window_s)),
        hop_s=float(meta.get("hop_s", WINDOWS.hop_s)),
        features=dict(meta.get("features", {})), training=dict(meta.get("training", {})),
        audio_mean=stats["audio"][0], audio_std=stats["audio"][1],
        video_mean=stats["video"][0], video_std=stats["video"][1], meta=meta,
    )


def record_embedder(
    path: str | os.PathLike[str], embedder: Any, *, modalities: Sequence[str] = MODALITIES
) -> Path:
    """Record the face embedder (an ``EmbedderIdentity``, an embedder, ``{"name", "sha256"}``, or None
    for an audio-only model) and the trained ``modalities`` in the bundle at ``path``; rewrites
    ``bundle.json`` atomically (the files it fingerprints are untouched). A ``training.modalities``
    record (what ``avemotion train`` writes) is set to the same modalities."""
    mods = [m for m in MODALITIES if m in modalities]
    if not mods or set(modalities) - set(MODALITIES):
        raise ValueError(f"modalities: expected a non-empty subset of {MODALITIES}, got {list(modalities)}")
    rec = _embedder_dict(embedder)
    if rec is None and "video" in mods:
        raise ValueError("embedder: a bundle trained on video must name its face embedder "
                         f"(name {SYNTHETIC_EMBEDDER!r} for synthetic video features)")
    bj = read_bundle(path, verify=False).path / BUNDLE_JSON
    meta = json.loads(bj.read_text())
    features = dict(meta.get("features", {}))
    features[TRAINED_MODALITIES_KEY] = mods
    features.pop(VIDEO_EMBEDDER_KEY, None)
    if rec is not None:
        features[VIDEO_EMBEDDER_KEY] = rec
    meta["features"] = features
    if isinstance(meta.get("training"), dict) and "modalities" in meta["training"]:
        meta["training"]["modalities"] = mods  # one fact, two records (trained_modalities): keep them equal
    _atomic_write_bytes(bj, (json.dumps(meta, indent=2) + "\n").encode())
    return bj
