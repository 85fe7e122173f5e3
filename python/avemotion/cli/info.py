"""``avemotion info``: build information and a self-check of the C++ core."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("info", help="print build information and run a self-check of the C++ core")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import avemotion

    info = avemotion.build_info()
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(1000, 89)).astype(np.float32)
    stats = avemotion.RunningStats(89).update(x)
    y = avemotion.normalize(x, stats.mean, stats.std)
    ref = (x - x.mean(0)) / x.std(0)
    info["self_check"] = {
        "normalize_max_abs_diff_vs_numpy": float(np.abs(y - ref).max()),
        "normalized_mean_abs_max": float(np.abs(y.mean(0)).max()),
        "normalized_std_range": [float(y.std(0).min()), float(y.std(0).max())],
        "ok": bool(np.allclose(y, ref, atol=1e-4)),
    }
    print(json.dumps(info, indent=2))
    return 0 if info["self_check"]["ok"] else 1
