"""python/avemotion/_core.pyi (the type stub of the C++ module) lists exactly what _core exports."""

from __future__ import annotations

import ast
from pathlib import Path

from avemotion import _core

STUB = Path(__file__).resolve().parents[1] / "python" / "avemotion" / "_core.pyi"


def test_stub_matches_the_compiled_module() -> None:
    tree = ast.parse(STUB.read_text())
    stub_names = {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    } | {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
         for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    stub_names.discard("__all__")
    module_names = {n for n in dir(_core) if not n.startswith("_")}
    if not _core.HAVE_ORT:  # built without ONNX Runtime headers: the ORT names may be absent
        stub_names = {n for n in stub_names if not n.lower().startswith("ort")}
        module_names = {n for n in module_names if not n.lower().startswith("ort")}
    assert module_names == stub_names, (
        "regenerate the stub: python -m pybind11_stubgen avemotion._core -o python "
        f"(missing: {sorted(module_names - stub_names)}, extra: {sorted(stub_names - module_names)})"
    )
