"""``--device`` on analyze, live and extract: parsing, validation, strict mode (CPU-only machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from avemotion.cli import main

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("cmd", [["analyze", "x.mp4"], ["live", "--source", "x.mp4"], ["extract", "x.mp4", "-o", "o"]])
@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu"])
def test_bad_device_is_exit_2(cmd: list[str], bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main([*cmd, "--device", bad])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "expected 'cpu', 'cuda', 'cuda:N' or 'auto'" in err and bad in err


@pytest.mark.parametrize("cmd", ["analyze", "live", "extract"])
def test_device_flag_parses(cmd: str) -> None:
    from avemotion.cli import build_parser

    extra = {"analyze": ["x.mp4"], "live": ["--source", "x.mp4"], "extract": ["x.mp4", "-o", "o"]}[cmd]
    p = build_parser()
    assert p.parse_args([cmd, *extra]).device == "cpu"
    assert p.parse_args([cmd, *extra, "--device", "AUTO"]).device == "auto"
    assert p.parse_args([cmd, *extra, "--device", "cuda:1"]).device == "cuda:1"


def test_analyze_cuda_strict_without_cuda_is_exit_2(tmp_path: Path, bundle_dir: Path, short_clip: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    rc = main(["analyze", str(short_clip), "--model", str(bundle_dir), "--mode", "video", "--random-facenet",
               "--device", "cuda", "--out", str(tmp_path / "o"), "--no-progress", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--device='cuda' but torch sees no CUDA device" in err and "AVEMOTION_STRICT" in err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_extract_cuda_strict_without_cuda_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"\0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("AVEMOTION_STRICT", "1")
    rc = main(["extract", str(f), "-o", str(tmp_path / "o"), "--modalities", "video", "--allow-random-weights",
               "--device", "cuda", "--no-progress"])
    assert rc == 2
    assert "--device" in capsys.readouterr().err
    assert not (tmp_path / "o" / "index.csv").exists()


def test_extract_ray_with_cuda_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"\0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    rc = main(["extract", str(f), "-o", str(tmp_path / "o"), "--modalities", "video", "--allow-random-weights",
               "--device", "cuda", "--backend", "ray", "--no-progress"])
    assert rc == 2
    assert "ray backend" in capsys.readouterr().err
