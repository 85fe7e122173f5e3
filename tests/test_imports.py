"""The package's import structure: no import circle, and every module imports on its own.

The graph counts every ``import`` of an avemotion module anywhere in a file, also inside functions
(a lazy import still ties two modules together; issue 15 found ``kernels -> inference -> bundle ->
feature_normalizer -> kernels`` that way). Two kinds are not edges: imports of the package itself
(``from avemotion import __version__``: every submodule import runs ``avemotion/__init__.py`` anyway),
and imports inside a module-level ``__getattr__`` (PEP 562 lazy re-exports of names that moved
elsewhere: they serve old callers, the module's own code never runs them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import avemotion

# The package under test, wherever it was imported from (site-packages in CI, python/ with PYTHONPATH):
# its compiled _core lives beside it, not necessarily in the source tree.
PKG = Path(avemotion.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == "__getattr__")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                out.add(full if full in mods else base)
    return {m for m in out if m in mods and m not in (name, "avemotion")}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_has_no_cycle() -> None:
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    assert "avemotion.kernels" in graph and "avemotion._contract" in graph["avemotion.kernels"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


_DRIVER = r"""
import importlib, os, sys, traceback
import numpy  # shared by nearly every module; importing it once keeps the test fast
assert not [m for m in sys.modules if m.startswith("avemotion")]
failed = []
for name in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a process in which no avemotion module has been imported yet
        os.close(r)
        try:
            importlib.import_module(name)
            code = 0
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        err = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(f"{name}: exit status {status}\n{err}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_in_a_fresh_process() -> None:
    """Each module alone, in a process with no avemotion module loaded (forked from a bare interpreter)."""
    names = sorted(m for m in _modules() if not m.endswith("__main__"))  # __main__ runs the CLI
    env_path = str(PKG.parent)
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, *names], capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": env_path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
