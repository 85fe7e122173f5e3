from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avemotion.features import clipfile as C


def _clip(ta: int = 3, tv: int = 2) -> C.ClipFeatures:
    rng = np.random.default_rng(0)
    return C.ClipFeatures(
        rng.standard_normal((ta, 89)).astype(np.float32),
        np.arange(ta) * 0.1 + 1.0,
        rng.standard_normal((tv, 512)).astype(np.float32),
        np.arange(tv) * 0.2,
        np.array([True, False][:tv] + [True] * max(0, tv - 2)),
        {"clip_id": "a", "n": 1},
    )


def test_roundtrip(tmp_path: Path) -> None:
    c = _clip()
    p = C.save_clip(tmp_path / "sub" / "a.npz", c)
    d = C.load_clip(p)
    for k in ("audio", "audio_times", "video", "video_times", "video_mask"):
        np.testing.assert_array_equal(getattr(d, k), getattr(c, k))
        assert getattr(d, k).dtype == getattr(c, k).dtype
    assert d.meta == {"clip_id": "a", "n": 1}
    with np.load(p, allow_pickle=False) as z:
        assert (
            sorted(z.files) == sorted(C.KEYS)
            and z["meta"].shape == ()
            and z["video_mask"].dtype == bool
        )
    assert [x.name for x in p.parent.iterdir()] == ["a.npz"]  # no temp file left


def test_empty_modalities(tmp_path: Path) -> None:
    c = C.ClipFeatures(*C.empty_audio(), np.zeros((0, 512)), [], np.zeros(0, bool))
    d = C.load_clip(C.save_clip(tmp_path / "e.npz", c))
    assert d.audio.shape == (0, 89) and d.video.shape == (0, 512) and d.video_times.shape == (0,)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("audio", np.zeros((2, 88)), r"audio expected shape \(T, 89\), got \(2, 88\)"),
        ("video_mask", np.zeros(2), "bool"),
        ("audio_times", np.zeros(4), "audio_times"),
        ("video", np.zeros((2, 3, 512)), "video expected shape"),
    ],
)
def test_validation(field: str, value: np.ndarray, match: str) -> None:
    c = _clip()
    kw = {
        k: getattr(c, k)
        for k in ("audio", "audio_times", "video", "video_times", "video_mask", "meta")
    }
    kw[field] = value
    with pytest.raises(ValueError, match=match):
        C.ClipFeatures(**kw)


def test_failed_save_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = C.save_clip(tmp_path / "a.npz", _clip())
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        C.save_clip(p, _clip(5, 1))
    assert p.read_bytes() == before and [x.name for x in tmp_path.iterdir()] == ["a.npz"]


def test_load_rejects_other_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="missing keys"):
        C.load_clip(tmp_path / "x.npz")


def test_missing_timestamps_are_an_error_not_invented(tmp_path: Path) -> None:
    """Issue 15: one of three clip readers used to invent timestamps; clipfile is now the only reader."""
    c = _clip()
    for key in ("audio_times", "video_times", "video_mask", "meta"):
        arrays = {k: getattr(c, k) for k in C.KEYS if k != "meta"} | {"meta": np.array("{}")}
        del arrays[key]
        np.savez(tmp_path / "x.npz", **arrays)
        with pytest.raises(ValueError, match=rf"x.npz: not a clip feature file, missing keys \['{key}'\]"):
            C.load_clip(tmp_path / "x.npz")


def test_unreadable_and_absent_files_name_the_file(tmp_path: Path) -> None:
    p = C.save_clip(tmp_path / "a.npz", _clip())
    p.write_bytes(p.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=r"a.npz: unreadable clip feature file"):
        C.load_clip(p)
    with pytest.raises(ValueError, match=r"nope.npz: clip feature file not found"):
        C.load_clip(tmp_path / "nope.npz")


def test_other_dims_and_empty_modality_stored_as_1d(tmp_path: Path) -> None:
    c = C.ClipFeatures(np.ones((2, 7)), [0.1, 0.2], np.zeros((0,)), [], np.zeros(0, bool), {}, dims=(7, 3))
    p = C.save_clip(tmp_path / "d.npz", c)
    d = C.load_clip(p, audio_dim=7, video_dim=3)
    assert d.audio.shape == (2, 7) and d.video.shape == (0, 3)
    with pytest.raises(ValueError, match=r"audio expected shape \(T, 89\), got \(2, 7\)"):
        C.load_clip(p)


def test_written_with_usual_permissions(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        p = C.save_clip(tmp_path / "m.npz", _clip())
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644  # issue 16.12: mkstemp's 0600 leaked through
