"""Run the two-head model: ``load_model(path) -> Predictor``.

::

    model = avemotion.load_model("models/dynamic_padding_no_leakage")
    emotion_probs, laugh_prob = model.predict([audio_features, video_features])
    pred = model.predict_window(window)      # Prediction(emotion, probabilities, laugh_prob, laughing)

Backends (``backend="auto"|"c"|"python"``) and execution providers (``providers="auto"|"cpu"|"cuda"``)
are chosen by ``create_session`` (``avemotion._sessions``, re-exported here): the C API from the C++
core when it was built with the ONNX Runtime headers, else onnxruntime's Python binding (identical
outputs); CUDA when onnxruntime-gpu can use it, else the CPU (``"cuda"`` without CUDA warns, or raises
in strict mode: ``strict=True`` or ``AVEMOTION_STRICT=1``).

Long inputs (``max_steps``, default 4096)
    A model with self-attention needs memory that grows with the square of the steps per call (the
    default bundle: batch 4 at T = 10000, both modalities, took 8.3 GB). So one model call holds at
    most ``max_steps`` steps per modality per sample (longer input raises ValueError: cut it into
    windows, e.g. ``predict_windows`` or ``avemotion analyze``; 4096 audio steps are 410 s), and a
    batch is split into calls of at most ``max(1, max_steps² // T²)`` samples (T = the longer
    modality's padded step count). Results are identical (samples are independent); a call's memory
    stays near that of one sample of ``max_steps`` steps (default bundle, T = 4096, B = 1: +0.6 GB).

Outputs are checked: a NaN/Inf probability (finite but extreme inputs, e.g. 1e20, overflow inside the
model) raises ValueError naming the samples instead of being returned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avemotion import _core
from avemotion._contract import resolve_model_dir
from avemotion._sessions import (
    Backend,
    CSession,
    PySession,
    Session,
    backend_info,
    create_session,
    select_provider,
)
from avemotion.bundle import Bundle, check_model_io, read_bundle
from avemotion.kernels import PreparedStats, available_backend, ort_library_path

__all__ = ["CSession", "MAX_STEPS", "Prediction", "Predictor", "PySession", "Session", "available_backend",
           "backend_info", "create_session", "load_model", "ort_library_path", "select_provider"]

log = logging.getLogger(__name__)

#: Most steps per modality per sample in one model call (see "Long inputs" above).
MAX_STEPS = 4096


# --------------------------------------------------------------------------- predictor


@dataclass(frozen=True)
class Prediction:
    """One window's result. ``probabilities`` (n_classes,) float32 in ``labels`` order."""

    emotion: str
    probabilities: np.ndarray
    laugh_prob: float
    laughing: bool
    labels: tuple[str, ...] = ()
    time: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "emotion": self.emotion, "laugh_prob": self.laugh_prob,
                "laughing": self.laughing,
                "probabilities": {k: float(v) for k, v in zip(self.labels, self.probabilities, strict=True)}}


_MODALITY = ("audio", "video")


def _where_single(index: tuple[int, ...], column: int) -> str:
    return f"step {index[1]}, column {column}"


def _where_batch(index: tuple[int, ...], column: int) -> str:
    return f"sample {index[0]}, step {index[1]}, column {column}"


def _all_finite(a: np.ndarray) -> bool:
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return bool(_core.find_nonfinite(a.ravel()) < 0)  # one C++ pass, no temporaries
    return bool(np.isfinite(a).all())


def _check_outputs(emo: np.ndarray, laugh: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
    """Refuse NaN/Inf probabilities (finite but extreme inputs overflow inside the model)."""
    if _all_finite(emo) and _all_finite(laugh):
        return
    bad = np.flatnonzero(~(np.isfinite(emo.reshape(len(emo), -1)).all(1) & np.isfinite(laugh.reshape(len(laugh), -1)).all(1)))
    big = max(float(np.abs(arrays[m] * arrays[f"{m}_mask"][..., None]).max(initial=0.0)) for m in _MODALITY)
    raise ValueError(
        f"features: the model returned NaN/Inf probabilities for sample(s) {bad[:10].tolist()}: the inputs are "
        f"finite but too large for it (largest |value| after normalization: {big:.3g}); check the features' "
        "units/scale against the bundle's statistics"
    )


class Predictor:
    """Normalizes features with the bundle's statistics and runs the two-head model.

    Create with ``load_model``. Attributes: ``labels``, ``laughter_threshold``, ``dims``,
    ``window_s``, ``hop_s``, ``backend`` (``"c"``/``"python"``), ``provider`` (``"cpu"``/``"cuda"``),
    ``bundle``.
    """

    def __init__(self, bundle: Bundle, session: Session, *, max_steps: int = MAX_STEPS) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps: expected an int >= 1, got {max_steps!r}")
        check_model_io(bundle, session.inputs, session.outputs)
        self.max_steps = int(max_steps)
        self.bundle = bundle
        self._session = session
        self.labels: tuple[str, ...] = bundle.labels
        self.laughter_threshold: float = bundle.laughter_threshold
        self.dims: dict[str, int] = dict(bundle.dims)
        self.window_s, self.hop_s = bundle.window_s, bundle.hop_s
        names = [n for n, _ in session.inputs]
        role_of = {v: k for k, v in bundle.inputs.items()}
        self._order = [role_of[n] for n in names]  # role for each session input position
        out_names = [n for n, _ in session.outputs]
        self._emo_idx = out_names.index(bundle.outputs["emotion"])
        self._laugh_idx = out_names.index(bundle.outputs["laughter"])
        # mean and 1/std once (validated), so each call runs only the normalization kernel
        self._norm = {m: PreparedStats(*bundle.stats(m), dim=bundle.dims[m]) for m in _MODALITY}

    @property
    def backend(self) -> str:
        return self._session.backend

    @property
    def provider(self) -> str:
        return self._session.provider

    def __repr__(self) -> str:
        return f"Predictor({self.bundle.path}, backend={self.backend!r}, provider={self.provider!r})"

    # -- input preparation

    def _prepare(self, m: str, x: Any, mask: Any, length: Any, single: bool | None) -> tuple[np.ndarray, np.ndarray, bool]:
        """Return (normalized (B, T, D) float32 with masked steps zeroed, float mask (B, T), single)."""
        dim = self.dims[m]
        arg = f"features[{_MODALITY.index(m)}] ({m})"
        if x is None:
            xa = np.zeros((0, dim), np.float32)
        else:
            try:
                xa = np.asarray(x)
            except Exception as exc:
                raise TypeError(f"{arg}: expected an array (T, {dim}) or (B, T, {dim}): {exc}") from exc
            if xa.dtype == object or not (np.issubdtype(xa.dtype, np.floating) or np.issubdtype(xa.dtype, np.integer)):
                raise TypeError(f"{arg}: expected a real numeric array, got dtype {xa.dtype}")
        if xa.ndim not in (2, 3) or xa.shape[-1] != dim:
            raise ValueError(f"{arg}: expected shape (T, {dim}) or (B, T, {dim}), got {xa.shape}")
        this_single = xa.ndim == 2
        if single is not None and x is not None and this_single != single:
            raise ValueError(f"{arg}: expected the same layout as features[0] ((T, D) vs (B, T, D)), got {xa.shape}")
        if xa.ndim == 2:
            xa = xa[None]
        b, t = xa.shape[:2]
        if mask is not None and length is not None:
            raise ValueError(f"masks[{_MODALITY.index(m)}] and lengths[{_MODALITY.index(m)}]: give one, not both")
        if mask is not None:
            ma = np.asarray(mask)
            if ma.dtype != np.bool_:
                raise TypeError(f"masks[{_MODALITY.index(m)}] ({m}): expected a bool array (True = real step), got dtype {ma.dtype}")
            if ma.ndim == 1:
                ma = ma[None]
            if ma.shape != (b, t):
                raise ValueError(f"masks[{_MODALITY.index(m)}] ({m}): expected shape {(b, t) if b > 1 or not this_single else (t,)}, got {np.shape(mask)}")
        elif length is not None:
            la = np.atleast_1d(np.asarray(length))
            if not np.issubdtype(la.dtype, np.integer) or la.shape != (b,) or np.any(la < 0) or np.any(la > t):
                raise ValueError(f"lengths[{_MODALITY.index(m)}] ({m}): expected {b} int(s) in [0, {t}], got {length!r}")
            ma = np.arange(t)[None, :] < la[:, None]
        else:
            ma = np.ones((b, t), np.bool_)
        all_real = (mask is None and length is None) or bool(ma.all())
        if t > self.max_steps:
            raise ValueError(
                f"{arg}: {t} steps, expected at most max_steps={self.max_steps} per call (the model's memory "
                "grows with the square of the steps); cut the input into windows (predict_windows, "
                "`avemotion analyze`) or pass a larger max_steps to load_model"
            )
        if t == 0:  # no steps: one all-masked step keeps every backend and model happy
            xa = np.zeros((b, 1, dim), np.float32)
            ma = np.zeros((b, 1), np.bool_)
            t, all_real = 1, False
        xf = np.array(xa, dtype=np.float32, order="C", copy=True)
        if not all_real:
            masked = ~ma.reshape(-1)
            flat = xf.reshape(-1, dim)
            flat[masked] = 0.0  # garbage (even NaN) in masked steps never reaches the model
        where = _where_single if this_single else _where_batch
        self._norm[m].apply(xf, xf, name=arg, where=where, expected="finite values in real (unmasked) steps")
        if not all_real:
            flat[masked] = 0.0
        return xf, ma.astype(np.float32), this_single

    def _run(self, features: Sequence[Any], masks: Sequence[Any] | None, lengths: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray, bool]:
        if isinstance(features, np.ndarray) or not isinstance(features, (list, tuple)) or len(features) != 2:
            raise TypeError("features: expected [audio_features, video_features] (a list of two arrays or None)")
        for what, v in (("masks", masks), ("lengths", lengths)):
            if v is not None and (not isinstance(v, (list, tuple)) or len(v) != 2):
                raise TypeError(f"{what}: expected [audio_{what[:-1]}, video_{what[:-1]}] (a list of two, entries may be None)")
        if features[0] is None and features[1] is None:
            raise ValueError("features: both modalities are None; give at least one")
        masks = masks or (None, None)
        lengths = lengths or (None, None)
        single: bool | None = None
        prepared = {}
        for f in features:
            if f is not None and single is None:
                single = np.ndim(f) == 2
        for i, m in enumerate(_MODALITY):
            prepared[m] = self._prepare(m, features[i], masks[i], lengths[i], single)
        ba, bv = prepared["audio"][0].shape[0], prepared["video"][0].shape[0]
        if features[0] is None or features[1] is None:  # the absent modality takes the other's batch
            present = "audio" if features[0] is not None else "video"
            absent = "video" if present == "audio" else "audio"
            b = prepared[present][0].shape[0]
            x, mk, s = prepared[absent]
            prepared[absent] = (np.zeros((b,) + x.shape[1:], np.float32), np.zeros((b, x.shape[1]), np.float32), s)
        elif ba != bv:
            raise ValueError(f"features: audio and video batch sizes differ: {ba} vs {bv}")
        arrays = {"audio": prepared["audio"][0], "audio_mask": prepared["audio"][1],
                  "video": prepared["video"][0], "video_mask": prepared["video"][1]}
        ordered = [arrays[r] for r in self._order]
        b = ordered[0].shape[0]
        t = max(prepared["audio"][0].shape[1], prepared["video"][0].shape[1])
        per_call = max(1, self.max_steps**2 // (t * t))  # memory bound (module docstring, "Long inputs")
        emo_parts, laugh_parts = [], []
        for start in range(0, b, per_call):
            outs = self._session.run([a[start : start + per_call] for a in ordered] if b > per_call else ordered)
            emo_parts.append(outs[self._emo_idx])
            laugh_parts.append(outs[self._laugh_idx])
        emo = emo_parts[0] if len(emo_parts) == 1 else np.concatenate(emo_parts)
        laugh = laugh_parts[0] if len(laugh_parts) == 1 else np.concatenate(laugh_parts)
        _check_outputs(emo, laugh, arrays)
        return emo, laugh, bool(single)

    # -- public API

    def predict(
        self,
        features: Sequence[Any],
        masks: Sequence[Any] | None = None,
        lengths: Sequence[Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``emotion_probs, laugh_prob = predict([audio, video])``.

        ``audio`` (T, 89) or (B, T, 89), ``video`` (T, 512) or (B, T, 512): raw features (normalized
        here with the bundle's statistics); Ta and Tv independent; either may be None or have zero
        steps (that modality is then fully masked). ``masks``: ``[audio_mask, video_mask]``, bool,
        True = real step, shape (T,) / (B, T); or ``lengths``: ``[audio_lengths, video_lengths]``
        (int or (B,) ints, the first n steps are real); per modality give one or neither (all real).
        Masked steps may hold anything, NaN included: they never reach the model.
        Returns float32 ``emotion_probs`` (B, n_classes) and ``laugh_prob`` (B, 1) for batches (as
        Keras' ``model.predict``), (n_classes,) and (1,) for a single sequence.
        Raises TypeError/ValueError naming the bad argument (also for NaN/Inf in real steps).
        """
        emo, laugh, single = self._run(features, masks, lengths)
        if single:
            return emo[0], laugh[0]
        return emo, laugh

    def predict_windows(self, windows: Sequence[Any], *, batch_size: int = 64) -> list[Prediction]:
        """``predict_window`` over many windows, padded into batches of up to ``batch_size`` (one model
        call per batch; padding is masked, so each result equals ``predict_window(w)``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        results: list[Prediction] = []
        ws = list(windows)
        for start in range(0, len(ws), batch_size):
            chunk = ws[start : start + batch_size]
            feats, masks = [], []
            for m in _MODALITY:
                dim = self.dims[m]
                xs, ms = [], []
                for i, w in enumerate(chunk):
                    self._check_window(w, start + i)
                    x = np.zeros((0, dim), np.float32) if getattr(w, m) is None else np.asarray(getattr(w, m))
                    if x.ndim != 2 or x.shape[1] != dim:
                        raise ValueError(f"windows[{start + i}].{m}: expected shape (T, {dim}), got {x.shape}")
                    mk = getattr(w, f"{m}_mask")
                    mk = np.ones(len(x), bool) if mk is None else np.asarray(mk, bool).reshape(-1)
                    if mk.shape != (len(x),):
                        raise ValueError(f"windows[{start + i}].{m}_mask: expected shape ({len(x)},), got {mk.shape}")
                    xs.append(x)
                    ms.append(mk)
                t = max(1, max(len(x) for x in xs))
                xb = np.zeros((len(chunk), t, dim), np.float32)
                mb = np.zeros((len(chunk), t), bool)
                for i, (x, mk) in enumerate(zip(xs, ms, strict=True)):
                    xb[i, : len(x)] = x
                    mb[i, : len(x)] = mk
                feats.append(xb)
                masks.append(mb)
            emo, laugh, _ = self._run(feats, masks, None)
            results += [self._prediction(emo[i], laugh[i], w) for i, w in enumerate(chunk)]
        return results

    @staticmethod
    def _check_window(window: Any, index: int | None = None) -> None:
        missing = [a for a in ("audio", "audio_mask", "video", "video_mask") if not hasattr(window, a)]
        if missing:
            name = "window" if index is None else f"windows[{index}]"
            raise TypeError(
                f"{name}: expected attributes audio, audio_mask, video, video_mask; {type(window).__name__} lacks {missing}"
            )

    def _prediction(self, emo: np.ndarray, laugh: np.ndarray, window: Any) -> Prediction:
        probs = emo.astype(np.float32, copy=False)
        lp = float(np.asarray(laugh).reshape(-1)[0])
        t = None
        for attr in ("t", "end", "time"):
            v = getattr(window, attr, None)
            if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
                t = float(v)
                break
        return Prediction(emotion=self.labels[int(np.argmax(probs))], probabilities=probs, laugh_prob=lp,
                          laughing=lp >= self.laughter_threshold, labels=self.labels, time=t)

    def predict_window(self, window: Any) -> Prediction:
        """Predict one analysis window: an object with ``audio`` (Ta, 89), ``audio_mask`` (Ta,) bool,
        ``video`` (Tv, 512), ``video_mask`` (Tv,) bool (the streaming synchronizer's window; masks may
        be None); its end time is taken from ``t``/``end``/``time`` when it has one."""
        self._check_window(window)
        emo, laugh, _ = self._run(
            [window.audio, window.video],
            [None if window.audio_mask is None else np.asarray(window.audio_mask, bool).reshape(-1),
             None if window.video_mask is None else np.asarray(window.video_mask, bool).reshape(-1)],
            None,
        )
        return self._prediction(emo[0], laugh[0], window)


def load_model(
    path: str | os.PathLike[str] | None = None,
    *,
    backend: Backend = "auto",
    providers: str = "auto",
    strict: bool | None = None,
    intra_op_threads: int = 0,
    inter_op_threads: int = 0,
    device_id: int = 0,
    verify: bool = True,
    max_steps: int = MAX_STEPS,
) -> Predictor:
    """Read and verify the bundle at ``path`` (default: ``$AVEMOTION_MODEL_DIR``, else the installed
    default bundle; ``avemotion._contract.resolve_model_dir``), create the session once, return a
    ``Predictor``.

    ``verify`` checks every file's sha256 (a few ms per MB). ``strict`` (default ``AVEMOTION_STRICT``)
    makes a CUDA fallback an error. ``max_steps``: see "Long inputs" in the module docstring.
    Raises ``avemotion.bundle.BundleError`` for bad bundles.
    """
    bundle = read_bundle(resolve_model_dir(path), verify=verify)
    sess = create_session(bundle.model_path, backend=backend, providers=providers, strict=strict,
                          intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads,
                          device_id=device_id)
    return Predictor(bundle, sess, max_steps=max_steps)
