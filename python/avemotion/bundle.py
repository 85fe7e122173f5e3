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
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion import _stats_pickle
from avemotion._contract import (
    AUDIO_MODES,
    DEFAULT_AUDIO_MODE,
    DIMS,
    EMOTION_LABELS,
    LEGACY_AUDIO_MODE,
    SAMPLE_RATE,
    WINDOWS,
    resolve_model_dir,
)
from avemotion._io import atomic_copy as _atomic_copy
from avemotion._io import atomic_write_bytes as _atomic_write_bytes

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "avemotion-bundle"
BUNDLE_FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
BUNDLE_JSON = "bundle.json"
MODALITIES = tuple(DIMS)  # ("audio", "video")
STATS_FILES = {m: f"{m}_normalization_stats.pkl" for m in MODALITIES}
DEFAULT_LABELS = EMOTION_LABELS
DEFAULT_INPUTS = {"audio": "audio", "audio_mask": "audio_mask", "video": "video", "video_mask": "video_mask"}
DEFAULT_OUTPUTS = {"emotion": "emotion", "laughter": "laughter"}
DEFAULT_FEATURES = {
    "audio_window_s": WINDOWS.audio_window_s,
    "audio_hop_s": WINDOWS.audio_hop_s,
    "audio_mode": DEFAULT_AUDIO_MODE,  # how the audio steps were computed: see check_audio_mode
    "audio_features": "eGeMAPSv02 functionals (88) + window RMS dBFS",
    "sample_rate": SAMPLE_RATE,
    "video_fps": WINDOWS.video_fps,
    "video_features": "FaceNet InceptionResnetV1 512-d, MTCNN-aligned 160x160 (weights: video_embedder)",
}
SETTINGS_KEYS = {"labels", "laughter_threshold", "window_s", "hop_s", "features", "inputs", "outputs"}


class BundleError(ValueError):
    """A bundle is missing, incomplete, altered or inconsistent; the message says which file and why."""


@dataclass
class Bundle:
    """A read (and, unless ``verify=False``, verified) bundle; stats as float32 arrays."""

    path: Path
    labels: tuple[str, ...]
    laughter_threshold: float
    dims: dict[str, int]
    inputs: dict[str, str]
    outputs: dict[str, str]
    window_s: float
    hop_s: float
    features: dict[str, Any]
    training: dict[str, Any]
    audio_mean: np.ndarray
    audio_std: np.ndarray
    video_mean: np.ndarray
    video_std: np.ndarray
    meta: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def stats(self, modality: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of ``"audio"`` or ``"video"``."""
        if modality == "audio":
            return self.audio_mean, self.audio_std
        if modality == "video":
            return self.video_mean, self.video_std
        raise ValueError(f"modality: expected 'audio' or 'video', got {modality!r}")


# --------------------------------------------------------------------------- stats pickles
# The stats format belongs to avemotion._stats_pickle (restricted unpickler: loading never executes
# code from a file); this function is the only place the bundle touches it.


def _load_stats(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) as float32 1-D arrays from ``path`` (a ``{name}_normalization_stats.pkl``);
    BundleError naming the file otherwise. Never falls back to default statistics."""
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    try:
        rec = _stats_pickle.read(path, name)
    except _stats_pickle.StatsFileError as exc:
        raise BundleError(f"{path}: cannot read {name} normalization stats: {exc}") from exc
    return rec.mean, rec.std


# --------------------------------------------------------------------------- helpers


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()



def _model_io(onnx_path: Path) -> tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[str, tuple[Any, ...]]]]:
    """[(name, shape)] of the model's inputs and outputs (None/str for dynamic dims)."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BundleError(f"{onnx_path}: not a loadable ONNX model: {exc}") from exc

    def norm(shape: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)

    return ([(i.name, norm(i.shape)) for i in sess.get_inputs()],
            [(o.name, norm(o.shape)) for o in sess.get_outputs()])


def check_model_io(
    bundle: Bundle,
    inputs: Sequence[tuple[str, Sequence[Any]]],
    outputs: Sequence[tuple[str, Sequence[Any]]],
    *,
    model_path: Path | None = None,
) -> None:
    """Check a model's inputs/outputs ([(name, shape)], None for dynamic) against the bundle.

    Every input role must be a model input of the contract's rank whose static feature dim equals
    ``bundle.dims``; the model must have no other inputs; both output roles must exist.
    """
    where = model_path or bundle.model_path
    have_in = {n: tuple(s) for n, s in inputs}
    have_out = {n: tuple(s) for n, s in outputs}
    expected_rank = {"audio": 3, "audio_mask": 2, "video": 3, "video_mask": 2}
    for role, name in bundle.inputs.items():
        if name not in have_in:
            raise BundleError(
                f"{where}: bundle.json names input {name!r} for {role!r}, but the model's inputs are "
                f"{sorted(have_in)}; fix 'inputs' in bundle.json (or re-export the model)"
            )
        shape = have_in[name]
        if len(shape) != expected_rank[role]:
            raise BundleError(f"{where}: input {name!r} ({role}): expected rank {expected_rank[role]}, got shape {shape}")
        if role in bundle.dims:
            d = shape[-1]
            if d is not None and d != bundle.dims[role]:
                raise BundleError(
                    f"{where}: input {name!r} ({role}): expected feature dim {bundle.dims[role]} "
                    f"(bundle.json dims / stats), got {d}"
                )
    extra = sorted(set(have_in) - set(bundle.inputs.values()))
    if extra:
        raise BundleError(f"{where}: model has inputs {extra} that bundle.json does not map to a role")
    for role, name in bundle.outputs.items():
        if name not in have_out:
            raise BundleError(
                f"{where}: bundle.json names output {name!r} for {role!r}, but the model's outputs are "
                f"{sorted(have_out)}"
            )
    n_classes = have_out[bundle.outputs["emotion"]][-1] if have_out[bundle.outputs["emotion"]] else None
    if n_classes is not None and n_classes != len(bundle.labels):
        raise BundleError(f"{where}: output 'emotion' has {n_classes} classes, bundle.json has {len(bundle.labels)} labels")


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    s = dict(settings or {})
    unknown = sorted(set(s) - SETTINGS_KEYS)
    if unknown:
        raise ValueError(f"settings: unknown keys {unknown}; expected some of {sorted(SETTINGS_KEYS)}")
    labels = tuple(s.get("labels", DEFAULT_LABELS))
    if not labels or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"settings['labels']: expected distinct non-empty strings, got {labels!r}")
    thr = float(s.get("laughter_threshold", WINDOWS.laughter_threshold))
    if not (0.0 <= thr <= 1.0):
        raise ValueError(f"settings['laughter_threshold']: expected a value in [0, 1], got {thr}")
    window_s, hop_s = float(s.get("window_s", WINDOWS.window_s)), float(s.get("hop_s", WINDOWS.hop_s))
    if not (window_s > 0 and hop_s > 0 and math.isfinite(window_s) and math.isfinite(hop_s)):
        raise ValueError(f"settings: expected window_s > 0 and hop_s > 0, got {window_s} and {hop_s}")
    inputs = {**DEFAULT_INPUTS, **dict(s.get("inputs", {}))}
    outputs = {**DEFAULT_OUTPUTS, **dict(s.get("outputs", {}))}
    for what, got, want in (("inputs", inputs, DEFAULT_INPUTS), ("outputs", outputs, DEFAULT_OUTPUTS)):
        if set(got) != set(want):
            raise ValueError(f"settings[{what!r}]: expected roles {sorted(want)}, got {sorted(got)}")
    features = {**DEFAULT_FEATURES, **dict(s.get("features", {}))}
    bundle_audio_mode(features, "settings")
    return {"labels": list(labels), "laughter_threshold": thr, "window_s": window_s, "hop_s": hop_s,
            "inputs": inputs, "outputs": outputs, "features": features}


# --------------------------------------------------------------------------- audio step mode


def bundle_audio_mode(features: Mapping[str, Any], where: object = BUNDLE_JSON) -> str:
    """The audio step mode (``"sliding"`` / ``"window"``, avemotion.features.audio) a bundle's
    ``features`` were computed with. A bundle without ``features.audio_mode`` predates the key and
    was made with per-window steps: ``LEGACY_AUDIO_MODE`` ("window")."""
    mode = features.get("audio_mode", LEGACY_AUDIO_MODE)
    if mode not in AUDIO_MODES:
        raise BundleError(f"{where}: features.audio_mode: expected one of {list(AUDIO_MODES)}, got {mode!r}")
    return str(mode)


def check_audio_mode(bundle: Bundle, mode: str) -> None:
    """Refuse (``BundleError``) to feed ``bundle`` audio steps computed in ``mode`` when its model
    was trained on steps of another mode (their values differ; see avemotion.features.audio)."""
    made = bundle_audio_mode(bundle.features, bundle.path / BUNDLE_JSON)
    if mode != made:
        how = "" if "audio_mode" in bundle.features else f" (no features.audio_mode: made before the key, so {made!r})"
        raise BundleError(
            f"{bundle.path}: the model was trained on audio steps in mode {made!r}{how}, but the audio "
            f"extractor runs in mode {mode!r}; run it in mode {made!r} or retrain on {mode!r} features"
        )


# --------------------------------------------------------------------------- write / read


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


def _require(meta: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: Path) -> Any:
    if key not in meta:
        raise BundleError(f"{where}: missing key {key!r}")
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, typ):
        raise BundleError(f"{where}: key {key!r}: expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
    return v


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


# --------------------------------------------------------------------------- face embedder record
# Which face embedder a bundle's video statistics and model were made with, and which modalities it
# was trained on, live in bundle.json's "features" (extractor settings; write_bundle's
# settings={"features": {...}} sets them, or record_embedder afterwards):
#   features.video_embedder      {"name": ..., "sha256": ...}: avemotion.features.video's
#                                EmbedderIdentity (sha256 of the weights); name "synthetic" (sha256
#                                null) for video features that no embedder made (the demo bundle)
#   features.trained_modalities  ["audio", "video"] or ["audio"] (an audio-only model needs no
#                                embedder record and accepts any); ``avemotion train`` records the
#                                same in training.modalities (trained_modalities reads either)
VIDEO_EMBEDDER_KEY = "video_embedder"
TRAINED_MODALITIES_KEY = "trained_modalities"
SYNTHETIC_EMBEDDER = "synthetic"


def _embedder_dict(embedder: Any) -> dict[str, Any] | None:
    """{"name", "sha256"} of an EmbedderIdentity, an embedder (its ``.identity``) or a mapping."""
    if embedder is None:
        return None
    ident = getattr(embedder, "identity", embedder)
    if isinstance(ident, Mapping):
        name, sha = ident.get("name"), ident.get("sha256")
    else:
        name, sha = getattr(ident, "name", None), getattr(ident, "sha256", None)
    if not isinstance(name, str) or not name or (sha is not None and not isinstance(sha, str)):
        raise ValueError(f"embedder: expected a name and a sha256 (or None), got {embedder!r}")
    return {"name": name, "sha256": sha}


def bundle_embedder(bundle: Bundle) -> dict[str, Any] | None:
    """The recorded ``features.video_embedder`` ({"name", "sha256"}), or None (not recorded)."""
    rec = bundle.features.get(VIDEO_EMBEDDER_KEY)
    return _embedder_dict(rec) if rec is not None else None


def trained_modalities(bundle: Bundle) -> tuple[str, ...]:
    """The modalities the bundle's model was trained on, in :data:`MODALITIES` order:
    ``training.modalities`` (the provenance ``avemotion train`` writes: the inputs that carried data
    in training), else ``features.trained_modalities`` (:func:`record_embedder`), else both (older
    bundles record neither). When both are recorded and disagree, ``training.modalities`` wins
    (``record_embedder`` defaults to both) with a warning. A record that is not a non-empty list of
    known modality names is a :class:`BundleError`."""
    where = Path(getattr(bundle, "path", ".")) / BUNDLE_JSON
    training = getattr(bundle, "training", None) or {}
    features = getattr(bundle, "features", None) or {}
    found: dict[str, tuple[str, ...]] = {}
    for key, rec in (("training.modalities", training.get("modalities")),
                     (f"features.{TRAINED_MODALITIES_KEY}", features.get(TRAINED_MODALITIES_KEY))):
        if rec is None:
            continue
        if isinstance(rec, str) or not isinstance(rec, Sequence) or not rec \
                or not all(isinstance(m, str) and m in MODALITIES for m in rec):
            raise BundleError(f"{where}: {key}: expected a non-empty list of {list(MODALITIES)}, got {rec!r}")
        found[key] = tuple(m for m in MODALITIES if m in rec)
    if len(set(found.values())) > 1:
        log.warning("%s: the trained modalities disagree (%s); using training.modalities", where,
                    ", ".join(f"{k} = {list(v)}" for k, v in found.items()))
    return next(iter(found.values()), MODALITIES)


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


def check_embedder(bundle: Bundle, embedder: Any, *, mode: str = "av") -> None:
    """Refuse (``BundleError``) to run ``bundle`` on video embeddings from a different face embedder
    than the one its video statistics and model were made with. ``embedder``: the one in use (an
    embedder, an ``EmbedderIdentity`` or a mapping; None in audio mode). Passes for ``mode="audio"``,
    a bundle not trained on video, or a ``synthetic`` record; a bundle that records no embedder gets a
    warning. Embedders are the same when their weights' sha256 are (names when a record has none)."""
    if mode == "audio" or "video" not in trained_modalities(bundle):
        return
    where = bundle.path / BUNDLE_JSON
    rec = bundle_embedder(bundle)
    if rec is None:
        log.warning("%s records no face embedder (features.%s): cannot check that its video statistics "
                    "match the FaceNet weights in use", where, VIDEO_EMBEDDER_KEY)
        return
    if rec["name"] == SYNTHETIC_EMBEDDER:
        log.info("%s: video features were synthetic; any face embedder is accepted", where)
        return
    have = _embedder_dict(embedder)
    if have is None:
        raise ValueError(f"embedder: mode {mode!r} needs the face embedder in use, got None")
    same = rec["sha256"] == have["sha256"] if rec["sha256"] and have["sha256"] else rec["name"] == have["name"]
    if not same:
        raise BundleError(
            f"{where}: the model and its video statistics were made with face embedder {rec['name']} "
            f"(weights sha256 {rec['sha256']}), but the one in use is {have['name']} (sha256 {have['sha256']}): "
            "embeddings of different weights are not comparable. Use the weights the bundle names "
            "(the default is set up by `avemotion weights`; others with --facenet-weights PATH), a bundle "
            "trained with this embedder, or --mode audio."
        )
