"""The package as a user gets it: build the wheel, install it into a fresh virtual environment, and
run ``avemotion info`` and ``avemotion analyze <repo>/samples/demo_clip.mp4`` from an empty temporary
directory with no flags and no avemotion environment variables (issue 18): the default bundle comes
from the wheel, the FaceNet weights from the user's cache (``avemotion weights``, which
``scripts/setup.sh`` runs, converts them into ``~/.cache/avemotion``).

What "fresh" means here. The wheel is built from this checkout (``pip wheel --no-build-isolation``,
with the build tools of the running environment and a build folder kept in ``build/install-test``,
so a rerun only recompiles what changed). A new venv (``python -m venv``, no system site-packages)
then gets the wheel with its ``[video]`` extra by ``pip install``, which resolves every requirement
itself: offline from a wheelhouse kept between runs (:func:`_wheelhouse`), filled from the configured
indexes by pip itself when it lacks something (the first run on a machine). Only the CUDA build of torch and its satellites (torch,
torchvision, triton, nvidia-*, cuda-*: 5.5 GB, about 5 of the 6 minutes a full install takes on the
2-core machine) are not copied: the running environment's installed copies are put on the new venv's
path, read-only, by a ``.pth`` file, before pip runs, so pip checks them against the wheel's
requirements like any installed package and installs everything else (numpy, onnxruntime, opensmile,
PyAV, facenet-pytorch, OpenCV, matplotlib, ...) into the venv. ``AVEMOTION_INSTALL_TEST_FULL=1``
installs those too. The checkout is never on the venv's path: every command runs from a temporary
directory, with ``PYTHONPATH`` unset, and ``--version`` must name the venv's site-packages.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest

from avemotion._contract import DEFAULT_BUNDLE_NAME, ENV_CACHE, ENV_FACENET_WEIGHTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "samples" / "demo_clip.mp4"
BUNDLE = ROOT / "models" / DEFAULT_BUNDLE_NAME
HEAVY = re.compile(r"^(torch|torchvision|triton|nvidia-.+|cuda-.+)$")
LOG: dict[str, float] = {}  # step -> seconds (printed as each step ends: see them with -s)


def _run(cmd: list[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None,
         step: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if step:
        LOG[step] = time.monotonic() - t0
        print(f"[install test] {step}: {LOG[step]:.1f} s")
    return p


def _user_env(venv: Path, home_cwd: Path) -> dict[str, str]:
    """A user's shell after ``source venv/bin/activate``: no avemotion variables, no PYTHONPATH."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "AVEMOTION_MODEL_DIR", "AVEMOTION_STRICT",
            ENV_FACENET_WEIGHTS}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop(ENV_CACHE, None)  # the FaceNet cache is the user's default one (~/.cache/avemotion)
    return env


def _site_packages(venv: Path) -> Path:
    (sp,) = (venv / "lib").glob("python3*/site-packages")
    return sp


def _borrow_heavy(venv: Path, overlay: Path) -> list[str]:
    """Put this environment's torch family on ``venv``'s path (see the module docstring)."""
    overlay.mkdir()
    names = []
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower()
        if not HEAVY.match(name):
            continue
        names.append(f"{name}=={dist.version}")
        site = Path(str(dist.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            link = overlay / top
            if not link.exists():
                link.symlink_to(site / top, target_is_directory=(site / top).is_dir())
    (_site_packages(venv) / "_avemotion_test_borrowed.pth").write_text(f"{overlay}\n")
    return sorted(names)


def _wheelhouse() -> Path:
    """Wheels of the venv's requirements, kept between runs: ``$AVEMOTION_WHEELHOUSE``, else
    ``~/.cache/avemotion-test/wheelhouse`` (pip's own cache stores nothing on this machine kind:
    its registry answers are not cacheable, so every fresh install would download ~1 GB again)."""
    env = os.environ.get("AVEMOTION_WHEELHOUSE")
    return Path(env) if env else Path.home() / ".cache" / "avemotion-test" / "wheelhouse"


def _install(py: Path, req: str, env: dict[str, str], cwd: Path) -> None:
    """``pip install req`` into the venv of ``py``, offline from the wheelhouse; when the wheelhouse
    lacks something, pip resolves against the configured indexes (``--dry-run --report``), the
    wheels it chose are downloaded into the wheelhouse, and the offline install runs again."""
    house = _wheelhouse()
    house.mkdir(parents=True, exist_ok=True)
    offline = [
        str(py),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-compile",
        "--no-index",
        "--find-links",
        str(house),
        req,
    ]
    p = _run(offline, cwd=cwd, env=env, timeout=1800, step="pip install (offline, wheelhouse)")
    if p.returncode == 0:
        return
    report = cwd / "pip-report.json"
    p = _run([str(py), "-m", "pip", "install", "-q", "--dry-run", "--report", str(report), req],
             cwd=cwd, env=env, timeout=1800, step="pip resolve (indexes)")  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    urls = [
        item["download_info"]["url"]
        for item in json.loads(report.read_text())["install"]
        if item["metadata"]["name"] != "avemotion"  # the wheel under test is given by path
    ]
    p = _run([str(py), "-m", "pip", "download", "-q", "--no-deps", "-d", str(house), *urls],
             cwd=cwd, env=env, timeout=1800, step=f"pip download ({len(urls)} wheels)")  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    p = _run(offline, cwd=cwd, env=env, timeout=1800, step="pip install (offline, wheelhouse)")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "pyproject.toml").is_file() or not BUNDLE.is_dir():
        pytest.skip("needs a source checkout (pyproject.toml, models/)")
    for mod in ("scikit_build_core", "pybind11"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"building the wheel needs {mod} (the [dev] extra)")
    dist = tmp_path_factory.mktemp("dist")
    p = _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
              "-Cbuild-dir=build/install-test", "-w", str(dist), str(ROOT)],
             cwd=ROOT, timeout=1200, step="build wheel")  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (whl,) = dist.glob("avemotion-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fresh")
    v = base / "venv"
    p = _run([sys.executable, "-m", "venv", str(v)], timeout=300, step="create venv")
    assert p.returncode == 0, p.stderr
    full = os.environ.get("AVEMOTION_INSTALL_TEST_FULL", "") == "1"
    borrowed = [] if full else _borrow_heavy(v, base / "borrowed")
    env = _user_env(v, base)
    _install(v / "bin" / "python", f"{wheel}[video]", env, base)
    p = _run([str(v / "bin" / "python"), "-m", "pip", "check"], cwd=base, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    print(f"[install test] borrowed from the running environment: {borrowed or 'nothing'}")
    return v


@pytest.fixture
def user(venv: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment, working directory): an empty directory outside the checkout."""
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    assert ROOT not in cwd.parents
    return _user_env(venv, cwd), cwd


def test_wheel_carries_the_default_bundle(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for f in sorted(BUNDLE.iterdir()):
            member = f"avemotion/models/{DEFAULT_BUNDLE_NAME}/{f.name}"
            assert member in names, f"{member} not in {wheel.name}"
            assert z.read(member) == f.read_bytes(), member
        assert any(re.fullmatch(r"avemotion/_core\..*\.so", n) for n in names)
        assert "avemotion/__main__.py" in names
    print(f"[install test] wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB")


def test_info_and_version_from_anywhere(venv: Path, user: tuple[dict[str, str], Path]) -> None:
    env, cwd = user
    site = _site_packages(venv)
    p = _run(["avemotion", "--version"], cwd=cwd, env=env, timeout=120)
    assert p.returncode == 0 and "(C++ core " in p.stdout, p.stderr
    assert str(site / "avemotion") in p.stdout, f"not the installed copy: {p.stdout}"
    p = _run(["avemotion", "info"], cwd=cwd, env=env, timeout=300, step="avemotion info")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["self_check"]["ok"] is True
    m = _run([str(venv / "bin" / "python"), "-m", "avemotion", "--version"], cwd=cwd, env=env,
             timeout=120)  # fmt: skip
    assert m.returncode == 0 and m.stdout == _run(["avemotion", "--version"], cwd=cwd, env=env,
                                                  timeout=120).stdout  # fmt: skip
    code = "from avemotion._contract import default_model_dir as d; print(d())"
    p = _run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=env, timeout=120)
    assert p.returncode == 0 and Path(p.stdout.strip()) == site / "avemotion" / "models" / (
        DEFAULT_BUNDLE_NAME), p.stdout + p.stderr  # fmt: skip


def test_analyze_the_demo_clip_with_no_flags(venv: Path, user: tuple[dict[str, str], Path]) -> None:
    env, cwd = user
    from avemotion.features import facenet_weights as W

    xdg = env.get("XDG_CACHE_HOME")  # the user's cache, where `avemotion weights` converts them
    facenet_cache = (Path(xdg) if xdg else Path.home() / ".cache") / "avemotion" / "facenet"
    try:
        W.default_weights(cache=facenet_cache)
    except W.FaceNetWeightsInvalid:
        raise
    except (
        W.FaceNetWeightsMissing
    ) as exc:  # scripts/setup.sh converts them; a bare checkout may not
        pytest.skip(f"no converted FaceNet weights on this machine (`avemotion weights`): {exc}")
    p = _run(["avemotion", "analyze", str(DEMO)], cwd=cwd,
             env=env, timeout=900, step="avemotion analyze")  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = cwd / "out" / DEMO.stem  # the default --out, relative to where the user is
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "av" and summary["complete"] is True
    # the installed bundle, found from here with no --model and no $AVEMOTION_MODEL_DIR
    assert Path(summary["model"]["path"]) == _site_packages(venv) / "avemotion" / "models" / (
        DEFAULT_BUNDLE_NAME)  # fmt: skip
    # real FaceNet weights, found from here in the user's cache (not in this directory, not random)
    assert summary["random_facenet"] is False and summary["face_present_share"] > 0.5
    rows = (out / "windows.jsonl").read_text().splitlines()
    assert len(rows) >= 20  # 12 s clip, a 2 s window every 0.5 s
    first = json.loads(rows[0])
    assert {"start", "end", "emotion", "laugh_prob"} <= set(first)
