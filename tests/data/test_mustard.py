"""MUStARD: sarcasm_data.json as a humor proxy, show groups, per-entry errors."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from avemotion.data import mustard
from avemotion.data.manifest import check_leakage

DATA = {
    "160": {"utterance": "It's just a privilege to watch your mind at work.", "speaker": "SHELDON",
            "context": ["I never would have identified the fingerprints of string theory in the aftermath of the Big Bang.",
                        "My apologies. What's your plan?"],
            "context_speakers": ["LEONARD", "SHELDON"], "show": "BBT", "sarcasm": True},
    "170": {"utterance": "I don't think I'll be able to stop thinking about it.", "speaker": "PENNY",
            "context": ["This is one of my favorite places to kick back after a quest."],
            "context_speakers": ["HOWARD"], "show": "BBT", "sarcasm": False},
    "1_60": {"utterance": "Oh, that's great.", "speaker": "CHANDLER", "context": [], "context_speakers": [],
             "show": "FRIENDS", "sarcasm": True},
    "1_70": {"utterance": "no flag", "speaker": "ROSS", "context": [], "context_speakers": [], "show": "FRIENDS"},
}


def test_proxy_rows_with_media_durations(tmp_path: Path) -> None:
    (tmp_path / "sarcasm_data.json").write_text(json.dumps(DATA, indent=2))
    vids = tmp_path / "videos" / "utterances_final"
    vids.mkdir(parents=True)
    for uid, secs in (("160", 1.25), ("170", 2.0)):
        with wave.open(str(vids / f"{uid}.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes(b"\0\0" * int(secs * 16000))
    res = mustard.process(tmp_path)
    by = {r.clip_id: r for r in res.rows}
    assert set(by) == {"mustard:160", "mustard:170"}
    assert by["mustard:160"].label == "laughter" and by["mustard:160"].label_kind == "proxy"
    assert by["mustard:170"].label == "no_laughter" and by["mustard:170"].end == pytest.approx(2.0)
    assert by["mustard:160"].group == "mustard:BBT" and check_leakage(res.rows) == {}
    msgs = sorted(e.message for e in res.errors)
    assert len(msgs) == 2 and "'1_60'" in msgs[0] and "not found" in msgs[0]  # no video
    assert "'1_70' lacks one of" in msgs[1]  # no sarcasm flag
    line_1_70 = next(e.line for e in res.errors if "1_70" in e.message)
    assert (tmp_path / "sarcasm_data.json").read_text().splitlines()[line_1_70 - 1].strip().startswith('"1_70"')


def test_assume_duration_and_group_by_speaker(tmp_path: Path) -> None:
    (tmp_path / "sarcasm_data.json").write_text(json.dumps(DATA))
    res = mustard.process(tmp_path, assume_duration=3.0, group_by="speaker")
    assert len(res.rows) == 3 and all("duration=assumed" in r.source_detail for r in res.rows)
    assert {r.group for r in res.rows} == {"mustard:BBT:SHELDON", "mustard:BBT:PENNY", "mustard:FRIENDS:CHANDLER"}
    with pytest.raises(ValueError, match="group_by"):
        mustard.process(tmp_path, group_by="episode")
    (tmp_path / "sarcasm_data.json").write_text("{\n  \"160\": [1,\n")
    with pytest.raises(ValueError, match=r"sarcasm_data.json:\d+: not valid JSON"):
        mustard.process(tmp_path)


@pytest.mark.parametrize("root_is", ["repository", "data"])
def test_repository_layout(tmp_path: Path, root_is: str) -> None:
    # github soujanyaporia/MUStARD: data/sarcasm_data.json, data/videos/utterances_final/{id}.mp4
    repo = tmp_path / "MUStARD"
    vids = repo / "data" / "videos" / "utterances_final"
    vids.mkdir(parents=True)
    (repo / "data" / "sarcasm_data.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(DATA, indent=2).replace("\n", "\r\n").encode())
    with wave.open(str(vids / "160.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    res = mustard.process(repo if root_is == "repository" else repo / "data", assume_duration=3.0)
    by = {r.clip_id: r for r in res.rows}
    assert by["mustard:160"].media_path == str(vids / "160.wav") and by["mustard:160"].end == pytest.approx(1.0)
    assert by["mustard:170"].media_path == str(vids / "170.mp4") and "duration=assumed" in by["mustard:170"].source_detail


def test_missing_json_names_the_places_looked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"sarcasm_data.json not found in .* or .*data"):
        mustard.process(tmp_path)
