"""``avemotion --version`` and ``python -m avemotion``: the same program as the console script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import avemotion
from avemotion.cli import COMMANDS, main


def _env() -> dict[str, str]:
    src = str(Path(avemotion.__file__).resolve().parents[1])  # the avemotion under test
    return dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))


def _script() -> Path:
    """The console script of this interpreter's environment (``[project.scripts]``)."""
    exe = Path(sys.executable).parent / "avemotion"
    if not exe.is_file():
        pytest.skip(f"no avemotion console script beside {sys.executable} (package not installed)")
    return exe


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"avemotion {avemotion.__version__} (C++ core ")
    assert str(Path(avemotion.__file__).parent) in out
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", avemotion.__version__)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["info"], [], ["nope"]])
def test_python_m_is_the_console_script(args: list[str], tmp_path: Path) -> None:
    runs = [
        subprocess.run(cmd + args, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                       timeout=300)
        for cmd in ([sys.executable, "-m", "avemotion"], [str(_script())])
    ]  # fmt: skip
    (m, script) = runs
    assert m.returncode == script.returncode, (m.stderr, script.stderr)
    assert m.stdout == script.stdout and m.stderr == script.stderr
    expect = {"--version": 0, "--help": 0, "info": 0, "nope": 2}.get(args[0] if args else "", 2)
    assert m.returncode == expect, m.stderr
    if args == ["--help"]:
        assert m.stdout.startswith("usage: avemotion ")  # not "__main__.py"
        for name in COMMANDS:
            assert name in m.stdout
    if args == ["info"]:
        assert '"ok": true' in m.stdout
    if args == ["nope"]:
        assert "invalid choice: 'nope'" in m.stderr


def test_main_module_does_nothing_when_imported() -> None:
    # multiprocessing's spawn (extract's pool) may import the main module: it must not run the CLI
    code = (
        "import runpy; runpy.run_module('avemotion.__main__', run_name='__mp_main__'); print('ok')"
    )
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
