"""The bundle's model interface check (part of :mod:`avemotion.bundle`; import from there):
:func:`check_model_io` compares a model's inputs/outputs with what ``bundle.json`` records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avemotion._bundle_format import Bundle, BundleError


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
