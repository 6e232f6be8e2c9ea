"""The release surface: one version everywhere, licences, and stubs that match the device package.

The stubs (stubs/m2v/*.pyi, what editors and type checkers read) are checked
against the device sources by their syntax trees (the package is MicroPython: its
const() and native imports do not run under CPython): every public module, function,
class, method and constant of device/m2v has a stub, and every name a stub
declares (attributes included) exists in the package.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import tomllib

import host_tools

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "device" / "m2v"
STUBS = ROOT / "stubs" / "m2v"


def _version_of_init() -> str:
    m = re.search(r'^__version__ = "([^"]+)"', (PKG / "__init__.py").read_text(), re.M)
    assert m, "device/m2v/__init__.py: no __version__ = \"...\" line"
    return m.group(1)


def test_one_version_everywhere():
    v = host_tools.__version__
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "host_tools.__version__"}
    manifest = re.search(r"""metadata\([^)]*version\s*=\s*["']([^"']+)""", (ROOT / "device" / "manifest.py").read_text())
    found = {
        "host_tools.__version__ (pyproject.toml reads it)": v,
        "device/m2v/__init__.py __version__ (m2v.__version__ on the board)": _version_of_init(),
        "device/manifest.py metadata(version=...)": manifest and manifest.group(1),
        "package.json": json.loads((ROOT / "package.json").read_text())["version"],
        "firmware_assets/package.json": json.loads((ROOT / "firmware_assets" / "package.json").read_text())["version"],
    }
    assert all(x == v for x in found.values()), "versions differ:\n" + "\n".join(f"  {k}: {x}" for k, x in found.items())
    assert re.fullmatch(r"\d+\.\d+\.\d+", v)
    assert f"## {v}" in (ROOT / "CHANGELOG.md").read_text(), f"CHANGELOG.md has no entry for {v}"


def test_licences():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "MIT"}
    model = (ROOT / "firmware_assets" / "potion-minilm-micro" / "LICENSE").read_text()
    assert "Apache License" in model and "Version 2.0" in model
    assert "Apache License 2.0" in (ROOT / "firmware_assets" / "potion-minilm-micro" / "README.md").read_text()


# ---- stubs ------------------------------------------------------------------------------------------


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__version__"


def _top_names(tree: ast.Module, stub: bool) -> dict[str, ast.AST]:
    """Public module-level names: defs, classes, assignments, and re-exports from the package itself."""
    out: dict[str, ast.AST] = {}
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            out[n.name] = n
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                for e in ast.walk(t):
                    if isinstance(e, ast.Name):
                        out[e.id] = n
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            out[n.target.id] = n
        elif isinstance(n, ast.ImportFrom) and n.level >= 1:  # `from .model import Model`
            for a in n.names:
                out[a.asname or a.name] = n
    return {k: v for k, v in out.items() if _public(k)}


def _methods(cls: ast.ClassDef) -> set[str]:
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}


def _stores(tree: ast.AST, obj: str) -> set[str]:
    """Attributes assigned on ``obj`` (``self.x = ...``, ``m.x = ...``, tuple targets included)."""
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
        and n.value.id == obj
    }


def _package_classes() -> dict[str, ast.ClassDef]:
    classes = {}
    for p in PKG.glob("*.py"):
        for n in ast.parse(p.read_text()).body:
            if isinstance(n, ast.ClassDef):
                classes[n.name] = n
    return classes


def _class_api(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> tuple[set[str], set[str]]:
    """(public methods, attributes) of a class and its bases in the package."""
    methods, attrs = _methods(cls), _stores(cls, "self")
    for b in cls.bases:
        name = b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None)
        if name in classes:
            m, a = _class_api(classes[name], classes)
            methods |= m
            attrs |= a
    if cls.name == "Model":  # the loader (m2v/_load.py, m2v/_header.py) sets the model's fields: m.x = ..., and KEEP's
        for mod in ("_load.py", "_header.py"):
            load = ast.parse((PKG / mod).read_text())
            attrs |= _stores(load, "m")
            for n in ast.walk(load):
                if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "KEEP" for t in n.targets):
                    attrs |= {e.value for e in ast.walk(n.value)
                              if isinstance(e, ast.Constant) and isinstance(e.value, str)}  # fmt: skip
    return methods, attrs


def test_every_public_name_has_a_stub_and_every_stub_exists():
    modules = {p.stem for p in PKG.glob("*.py") if _public(p.stem) or p.stem == "__init__"}
    stubs = {p.stem for p in STUBS.glob("*.pyi")}
    problems = [f"device/m2v/{m}.py: no stub stubs/m2v/{m}.pyi" for m in sorted(modules - stubs)]
    problems += [f"stubs/m2v/{m}.pyi: no module device/m2v/{m}.py" for m in sorted(stubs - modules)]
    classes = _package_classes()
    for mod in sorted(modules & stubs):
        src = _top_names(ast.parse((PKG / f"{mod}.py").read_text()), stub=False)
        stub = _top_names(ast.parse((STUBS / f"{mod}.pyi").read_text()), stub=True)
        problems += [f"m2v.{mod if mod != '__init__' else ''}{'.' if mod != '__init__' else ''}{n}: no stub in "
                     f"stubs/m2v/{mod}.pyi" for n in sorted(set(src) - set(stub))]  # fmt: skip
        problems += [f"stubs/m2v/{mod}.pyi declares {n}, which device/m2v/{mod}.py does not define"
                     for n in sorted(set(stub) - set(src))]  # fmt: skip
        for name in sorted(set(src) & set(stub)):
            s, t = src[name], stub[name]
            if not (isinstance(s, ast.ClassDef) and isinstance(t, ast.ClassDef)):
                continue
            methods, attrs = _class_api(s, classes)
            smethods = _methods(t)
            sattrs = {n.target.id for n in t.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
            problems += [f"{name}.{m} (device/m2v/{mod}.py): no stub in stubs/m2v/{mod}.pyi"
                         for m in sorted(methods - smethods)]  # fmt: skip
            problems += [f"stubs/m2v/{mod}.pyi declares method {name}.{m}, which the package does not define"
                         for m in sorted(smethods - methods - attrs)]  # fmt: skip (a callable set at init
            # is a method to its user: Model.embed_into, the C core's Entry or its Python closure)
            problems += [f"stubs/m2v/{mod}.pyi declares attribute {name}.{a}, which the package never sets"
                         for a in sorted(sattrs - attrs - methods)]  # fmt: skip
    assert not problems, "the stubs and device/m2v disagree (add or remove the stub):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", sorted(STUBS.glob("*.pyi")), ids=lambda p: p.name)
def test_stubs_parse_with_docstrings(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name}: a module docstring (micropython-stubs keep the docs in the stubs)"
