"""Face-embedder and trained-modality records of a bundle (part of :mod:`avemotion.bundle`; import
from there). :func:`avemotion.bundle.record_embedder` writes them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from avemotion._bundle_format import BUNDLE_JSON, MODALITIES, Bundle, BundleError

log = logging.getLogger("avemotion.bundle")  # the front module's name: one logger for bundles


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
