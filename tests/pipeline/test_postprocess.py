"""Smoothing, hysteresis, laughter events, summaries, outputs and the timeline plot."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from avemotion.pipeline.postprocess import (
    EMASmoother,
    Hysteresis,
    WindowResult,
    detect_laughter_events,
    plot_timeline,
    rows_to_csv,
    rows_to_jsonl,
    summarize,
)

LABELS = ["anger", "disgust", "fear", "happy", "neutral", "sad"]

def _windows(probs, hop=0.5, window=2.0):
    ends = np.arange(1, len(probs) + 1) * hop + window - hop
    return ends - window, ends, np.asarray(probs, float)

def test_events_follow_hysteresis_and_min_duration() -> None:
    p = [0.1, 0.2, 0.7, 0.55, 0.45, 0.3, 0.1, 0.9, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6, 0.2]
    s, e, p = _windows(p)
    events = detect_laughter_events(s, e, p, on=0.5, off=0.4, min_duration_s=0.75, merge_gap_s=0.0)
    # 0.7 -> 0.55 -> 0.45 (still >= off) -> 0.3 stops: windows 2..4
    assert [(round(ev.onset, 2), round(ev.offset, 2)) for ev in events] == [
        (e[2] - 0.5, e[4]),
        (e[10] - 0.5, e[13]),
    ]
    # the lone 0.9 window lasts one hop (0.5 s) < min duration: dropped
    assert events[0].peak_prob == pytest.approx(0.7) and events[0].peak_time == e[2]
    for ev in events:
        inside = p[(e > ev.onset) & (e <= ev.offset)]
        assert inside.max() == pytest.approx(ev.peak_prob)
        assert (inside >= 0.4).all()

def test_events_merge_across_short_gaps() -> None:
    s, e, p = _windows([0.9, 0.9, 0.1, 0.9, 0.9])
    merged = detect_laughter_events(s, e, p, on=0.5, off=0.4, min_duration_s=0.0, merge_gap_s=1.0)
    apart = detect_laughter_events(s, e, p, on=0.5, off=0.4, min_duration_s=0.0, merge_gap_s=0.0)
    assert len(merged) == 1 and len(apart) == 2

def test_event_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="equal"):
        detect_laughter_events([0, 1], [1], [0.5])
    with pytest.raises(ValueError, match="finite"):
        detect_laughter_events([0.0], [1.0], [np.nan])
    with pytest.raises(ValueError, match="thresholds"):
        Hysteresis(on=0.3, off=0.6)
    assert detect_laughter_events([], [], []) == []

def test_ema_and_hysteresis() -> None:
    ema = EMASmoother(alpha=0.5)
    np.testing.assert_allclose(ema([1.0, 0.0]), [1.0, 0.0])
    np.testing.assert_allclose(ema([0.0, 1.0]), [0.5, 0.5])
    with pytest.raises(ValueError):
        EMASmoother(alpha=0.0)
    h = Hysteresis(0.6, 0.4)
    assert [h(x) for x in [0.5, 0.61, 0.45, 0.39, 0.5]] == [False, True, True, False, False]

def _results(n=12):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pr = rng.dirichlet(np.ones(6))
        out.append(
            WindowResult(
                start=i * 0.5, end=i * 0.5 + 2, emotion=LABELS[int(pr.argmax())],
                probabilities=dict(zip(LABELS, pr.tolist(), strict=False)), laugh_prob=float(i % 5) / 5,
                laughing=(i % 5) >= 3, face_present_share=1.0 if i < 9 else 0.0,
                audio_missing=False, video_missing=i >= 9,
            )
        )
    return out

def test_summary_outputs_and_plot(tmp_path) -> None:
    res = _results()
    ev = detect_laughter_events([r.start for r in res], [r.end for r in res], [r.laugh_prob for r in res], on=0.5)
    summary = summarize(res, LABELS, ev)
    assert summary.windows == 12
    assert sum(summary.emotion_shares.values()) == pytest.approx(1.0)
    assert summary.laughter_count == len(ev)
    json.dumps(summary.to_dict())
    rows = [r.to_row() for r in res]
    lines = rows_to_jsonl(rows).splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["emotion"] in LABELS
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert len(parsed) == 12 and set(parsed[0]) == set(rows[0])
    png = plot_timeline(res, LABELS, ev, 0.5, tmp_path / "t.png", title="x")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 500
