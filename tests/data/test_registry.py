"""The corpus registry: every entry matches its module, the CLI is built from it, unify by kind."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from avemotion.cli import main
from avemotion.data import registry
from avemotion.data.manifest import ManifestRow, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("corpus", registry.CORPORA, ids=[c.name for c in registry.CORPORA])
def test_entry_matches_its_module(corpus: registry.Corpus) -> None:
    mod = corpus.load()
    params = inspect.signature(mod.process).parameters
    assert list(params)[0] == "root"
    for name in ("out", "seed", "proportions"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (corpus.name, name)
    for option in corpus.options:
        if corpus.convert is None:
            assert option.dest in params, f"{corpus.name}: option {option.flag} has no process() keyword {option.dest}"
    assert mod.__doc__ and "Layouts accepted" in mod.__doc__, f"{corpus.name}: docstring names no accepted layouts"
    assert {o.kind for o in corpus.outputs} <= {"laughter", "emotion"}


def test_names_are_unique_and_manifests_by_kind() -> None:
    names = [c.name for c in registry.CORPORA]
    assert len(names) == len(set(names)) and set(names) >= {"audioset", "ami", "emodb", "laughter_folder"}
    files = [o.manifest for c in registry.CORPORA for o in c.outputs]
    assert len(files) == len(set(files))
    assert "emodb_no_laughter.csv" in registry.manifests("laughter") and "emodb.csv" in registry.manifests("emotion")
    with pytest.raises(KeyError, match="unknown corpus 'nope'; known: audioset"):
        registry.get("nope")


def test_cli_options_reach_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def fake_process(root: Path, **kw: object) -> object:
        seen.update(kw, root=root)
        raise ValueError("stop here")

    from avemotion.data import ami, liris_accede

    monkeypatch.setattr(ami, "process", fake_process)
    assert main(["data", "ami", "--root", str(tmp_path), "--out", str(tmp_path / "a.csv"), "--point-laugh-s", "0.6",
                 "--group-by", "meeting", "--seed", "4"]) == 2
    assert seen["point_laugh_s"] == 0.6 and seen["group_by"] == "meeting" and seen["seed"] == 4
    assert "media_root" not in seen and "negatives_per_positive" not in seen  # unset: process() defaults apply
    seen.clear()
    monkeypatch.setattr(liris_accede, "process", fake_process)
    assert main(["data", "liris_accede", "--root", str(tmp_path), "--out", str(tmp_path / "l.csv"),
                 "--valence-min", "3.5", "--official-sets"]) == 2
    assert seen["rule"] == liris_accede.ProxyRule(valence_min=3.5) and seen["official_sets"] is True


def test_registry_runs_without_the_package(tmp_path: Path) -> None:
    # the Makefile runs registry.py by path, before the C++ core is built: standard library only
    proc = subprocess.run([sys.executable, "-S", "-I", str(REPO / "python" / "avemotion" / "data" / "registry.py"), "names"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [c.name for c in registry.CORPORA]


def test_data_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "emodb.csv, emodb_no_laughter.csv" in out and "laughter_folder" in out


def test_unify_emotion_kind(tmp_path: Path) -> None:
    a = tmp_path / "cremad.csv"
    b = tmp_path / "emodb.csv"
    write_manifest(a, [ManifestRow("cremad:1", "cremad", "x.wav", 0.0, 1.0, "anger", "clip", "", "cremad:1001", "train")])
    write_manifest(b, [ManifestRow("emodb:03a01Wa", "emodb", "y.wav", 0.0, 2.0, "anger", "clip", "", "emodb:03", "test")])
    out = tmp_path / "emotion_v1.csv"
    assert main(["data", "unify", "--kind", "emotion", "--inputs", str(a), str(b), "--out", str(out)]) == 0
    assert [r.clip_id for r in read_manifest(out, kind="emotion")] == ["cremad:1", "emodb:03a01Wa"]
    # a laughter unify of emotion manifests is refused with file:line
    assert main(["data", "unify", "--inputs", str(a), "--out", str(tmp_path / "l.csv")]) == 2
