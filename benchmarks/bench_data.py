"""AudioSet manifest building from a generated segment CSV: throughput and peak memory.

    python -m pytest benchmarks/bench_data.py --benchmark-only
    AVEMOTION_BENCH_ROWS=2000000 python -m pytest benchmarks/bench_data.py --benchmark-only

The CSV has AudioSet's format (3 comment lines, ``YTID, start, end, "mid,mid"``) with random classes
from the real ontology and 0.3% laughter rows (about AudioSet's unbalanced-train rate). Cases, in
group ``audioset-csv``: ``avemotion.data.audioset.process`` (streamed, two passes through the C++
line scanner, written atomically) against the baseline a user would otherwise write: ``pandas.read_csv`` of the whole file, a regex
filter for the laughter classes, a negative sample, ``to_csv``. ``test_peak_memory`` measures the
peak RSS growth (fresh process, after its imports) of both at ROWS/10 and ROWS rows: ours is
bounded by the rows it writes (laughter segments and their sample of negatives), pandas holds the
whole file. Numbers go to the benchmark's ``extra_info`` and are printed.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest

from avemotion.data import audioset

ROWS = int(os.environ.get("AVEMOTION_BENCH_ROWS", "200000"))
ONTOLOGY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "audioset" / "ontology.json"
LAUGH_RATE = 0.003


def _ontology(tmp: Path) -> Path:
    if ONTOLOGY.is_file():
        return ONTOLOGY
    # fallback when ../shared is absent: a minimal ontology with the laughter subtree
    nodes = [{"id": "/m/01j3sz", "name": "Laughter", "child_ids": ["/m/07r660_"]},
             {"id": "/m/07r660_", "name": "Giggle", "child_ids": []}]
    nodes += [{"id": f"/m/x{i}", "name": f"class {i}", "child_ids": []} for i in range(500)]
    p = tmp / "ontology.json"
    p.write_text(json.dumps(nodes))
    return p


def _generate(path: Path, n: int, ontology: Path, seed: int = 0) -> Path:
    mids = [m for m in audioset.load_ontology(ontology) if m not in audioset.descendants(audioset.load_ontology(ontology))]
    laugh = sorted(audioset.descendants(audioset.load_ontology(ontology)))
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    with path.open("w") as f:
        f.write("# Segments csv created Sun Mar  5 10:54:31 2017\n")
        f.write(f"# num_ytids={n}, num_segs={n}, num_unique_labels=527, num_positive_labels={2 * n}\n")
        f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        for _ in range(n):
            ytid = "".join(rng.choices(alphabet, k=11))
            start = rng.randrange(0, 600) * 10.0
            labels = rng.sample(mids, rng.randint(1, 3))
            if rng.random() < LAUGH_RATE:
                labels.append(rng.choice(laugh))
            f.write(f'{ytid}, {start:.3f}, {start + 10:.3f}, "{",".join(labels)}"\n')
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bench_data")
    onto = _ontology(tmp)
    return {"ontology": onto, "small": _generate(tmp / "small.csv", ROWS // 10, onto, 1),
            "large": _generate(tmp / "large.csv", ROWS, onto, 2), "tmp": tmp}


def ours(csv_path: Path, ontology: Path, out: Path) -> int:
    res = audioset.process(segments=[csv_path], ontology=ontology, out=out)
    assert res.summary is not None
    return res.summary.n_rows


def pandas_baseline(csv_path: Path, ontology: Path, out: Path) -> int:
    import pandas as pd

    mids = audioset.descendants(audioset.load_ontology(ontology))
    df = pd.read_csv(csv_path, comment="#", header=None, names=["ytid", "start", "end", "labels"],
                     skipinitialspace=True, quotechar='"')
    pat = "|".join(re.escape(m) for m in mids)
    is_pos = df["labels"].str.contains(pat, regex=True)
    pos, neg = df[is_pos], df[~is_pos]
    neg = neg.sample(n=min(len(neg), len(pos)), random_state=0)
    both = pd.concat([pos.assign(label="laughter"), neg.assign(label="no_laughter")])
    both.to_csv(out, index=False)
    return len(both)


@pytest.mark.benchmark(group="audioset-csv")
def test_bench_avemotion_stream(benchmark, inputs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    n = benchmark.pedantic(ours, args=(inputs["large"], inputs["ontology"], inputs["tmp"] / "ours.csv"), rounds=3, iterations=1)
    benchmark.extra_info.update(rows=ROWS, rows_out=n, rows_per_s=ROWS / benchmark.stats.stats.median)
    assert n > 0


@pytest.mark.benchmark(group="audioset-csv")
def test_bench_pandas_full_load(benchmark, inputs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pandas")
    n = benchmark.pedantic(pandas_baseline, args=(inputs["large"], inputs["ontology"], inputs["tmp"] / "pd.csv"), rounds=3, iterations=1)
    benchmark.extra_info.update(rows=ROWS, rows_out=n, rows_per_s=ROWS / benchmark.stats.stats.median)
    assert n > 0


_MEASURE = """
import sys
sys.path.insert(0, {bench_dir!r})
import bench_data as b
import avemotion.data.audioset
from pathlib import Path
if {fn!r} == "pandas_baseline":
    import pandas
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS: imports no longer count
getattr(b, {fn!r})(Path({csv!r}), Path({onto!r}), Path({out!r}))
print(status("VmHWM:") - before)
"""


def _peak_rss_mib(fn: str, csv_path: Path, ontology: Path, out: Path) -> float:
    """Peak RSS growth (MiB) of a fresh process while running ``fn``, after its imports
    (Linux: /proc/self/clear_refs resets the peak). Counts C allocations (pandas) too."""
    import subprocess
    import sys

    code = _MEASURE.format(bench_dir=str(Path(__file__).parent), fn=fn, csv=str(csv_path), onto=str(ontology), out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(proc.stdout.strip().splitlines()[-1]) / 1024.0


@pytest.mark.benchmark(group="audioset-memory")
def test_peak_memory(benchmark, inputs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pandas")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak RSS")
    report: dict[str, float] = {}
    for fn in ("ours", "pandas_baseline"):
        for size in ("small", "large"):
            report[f"{fn}_{size}_peak_MiB"] = round(_peak_rss_mib(fn, inputs[size], inputs["ontology"], inputs["tmp"] / f"mem_{fn}.csv"), 1)
    report["rows_small"], report["rows_large"] = ROWS // 10, ROWS
    benchmark.extra_info.update(report)
    print("\npeak RSS growth while running (MiB):", json.dumps(report))
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    # Ours keeps the laughter segments, not the file: 10x the rows stays within a few MiB.
    assert report["ours_large_peak_MiB"] < report["ours_small_peak_MiB"] + 8.0
