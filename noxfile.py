"""nox sessions: tests, bench, lint, typecheck, build, sanitize, soak.

``nox -s tests`` builds and installs the package with all extras in a fresh venv (reuse with ``-R``).
``nox -s sanitize`` rebuilds the C++ core with AddressSanitizer + UndefinedBehaviorSanitizer and runs
the tests that touch C++; ``nox -s sanitize -- thread`` uses ThreadSanitizer instead.
"""

from __future__ import annotations

import subprocess

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"

EXTRAS = ".[video,train,dev,cluster]"
CPP_TESTS = ["tests/test_kernels.py", "tests/streaming", "tests/inference"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install(EXTRAS)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install(EXTRAS)
    session.run(
        "pytest", "benchmarks", "--benchmark-only", "--benchmark-columns=median,iqr,rounds",
        "--benchmark-json=.benchmarks/latest.json", *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "python", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("mypy", "numpy")
    session.run("mypy", "python/avemotion")


@nox.session
def build(session: nox.Session) -> None:
    session.install("build")
    session.run("python", "-m", "build", "--outdir", "dist")


def _runtime_lib(name: str) -> str:
    return subprocess.check_output(["gcc", f"-print-file-name={name}"], text=True).strip()


@nox.session
def sanitize(session: nox.Session) -> None:
    kind = session.posargs[0] if session.posargs else "address"
    if kind == "thread":
        sanitizers, preload = "thread", _runtime_lib("libtsan.so")
        env = {"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"}
    else:
        sanitizers = "address,undefined"
        # gcc 12: libstdc++ must be preloaded beside libasan, or ASan aborts at the first C++ throw.
        preload = f"{_runtime_lib('libasan.so')} {_runtime_lib('libubsan.so')} {_runtime_lib('libstdc++.so')}"
        env = {
            # CPython's own allocations are not ours to report; UBSan findings are fatal.
            "ASAN_OPTIONS": "detect_leaks=0 abort_on_error=1",
            "UBSAN_OPTIONS": "halt_on_error=1 print_stacktrace=1",
        }
    session.install("pybind11", "scikit-build-core", "numpy", "onnxruntime", "onnx", "pytest", "hypothesis")
    session.install(
        "--no-build-isolation", "--no-deps",
        "-Ccmake.define.AVEMOTION_SANITIZE=ON", f"-Ccmake.define.AVEMOTION_SANITIZERS={sanitizers}",
        "-Ccmake.build-type=RelWithDebInfo", "-Cbuild-dir=build/sanitize-{kind}".replace("{kind}", kind), ".",
    )
    env["LD_PRELOAD"] = preload
    env["AVEMOTION_SANITIZE"] = kind
    tests = [t for t in CPP_TESTS if __import__("os").path.exists(t)]
    session.run("pytest", "-q", "-p", "no:cacheprovider", *tests, env=env)


@nox.session
def soak(session: nox.Session) -> None:
    """Live mode on a looped stream for a configurable time; reports resident memory start/end."""
    session.install(EXTRAS)
    session.run("python", "benchmarks/soak_live.py", *session.posargs)
