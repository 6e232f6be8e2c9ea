"""MicroPython's own tools/manifestfile.py lists exactly the package's modules for both manifests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import build_dist, freeze_model, mpy_source

ROOT = Path(__file__).resolve().parent.parent

MODULES = sorted(f"m2v/{p.name}" for p in (ROOT / "device" / "m2v").glob("*.py"))


@pytest.fixture(scope="module")
def manifestfile():
    try:
        tools = mpy_source.mpy_dir() / "tools"
    except mpy_source.MpySourceMissing as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(e))
        pytest.skip(str(e))
    spec = importlib.util.spec_from_file_location("manifestfile", tools / "manifestfile.py")  # stdlib imports only
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    return mf


def listing(mf, manifest: Path, mode: int, port_dir: Path) -> list[tuple[str, str, int | None]]:
    m = mf.ManifestFile(mode, {"MPY_DIR": str(port_dir), "MPY_LIB_DIR": None, "PORT_DIR": str(port_dir),
                               "BOARD_DIR": str(port_dir)})  # fmt: skip
    m.execute(str(manifest))
    return sorted((f.target_path, f.full_path, f.opt) for f in m.files())


@pytest.mark.parametrize("mode", ["freeze", "compile"])
def test_package_manifest(manifestfile, tmp_path, mode):
    mf = manifestfile
    got = listing(mf, ROOT / "device" / "manifest.py", {"freeze": mf.MODE_FREEZE, "compile": mf.MODE_COMPILE}[mode],
                  tmp_path)  # fmt: skip
    assert [t for t, _, _ in got] == MODULES
    assert all(Path(full) == ROOT / "device" / t for t, full, _ in got)
    assert {opt for _, _, opt in got} == {3}


def test_firmware_manifest(manifestfile, tmp_path):
    """firmware_assets/manifest.py: the port's own manifest, the package (no manifest.py) and the frozen model."""
    mf = manifestfile
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "manifest.py").write_text("")  # a port whose board manifest freezes nothing
    frozen = ROOT / "build" / "frozen" / "m2v_model.py"
    freeze_model.write_module(ROOT / "firmware_assets" / "model.m2v", frozen)  # what `make freeze` writes
    got = listing(mf, ROOT / "firmware_assets" / "manifest.py", mf.MODE_FREEZE, tmp_path)
    assert [t for t, _, _ in got] == sorted(MODULES + ["m2v_model.py"])
    assert all(Path(full) == ROOT / "device" / t for t, full, _ in got if t.startswith("m2v/"))
    assert Path(dict((t, f) for t, f, _ in got)["m2v_model.py"]) == frozen


@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_mpy_tool_freezes_every_module(manifestfile, tmp_path, arch):
    """What a firmware build does with the manifest's files: tools/mpy-tool.py turns each .mpy into C.

    Every module of the package is bytecode (no viper, no native code with relocations that a
    freeze would refuse); the C core reaches custom firmware as a user C module, not through here.
    """
    tools = Path(manifestfile.__file__).parent
    pkg = build_dist.build(arch, tmp_path / "dist")
    qstrs = tmp_path / "qstrdefs.h"  # the firmware's qstr header; only its config lines are needed here
    qstrs.write_text("QCFG(BYTES_IN_LEN, (1))\nQCFG(BYTES_IN_HASH, (2))\n")
    mods = sorted(p for p in pkg.glob("*.mpy") if p.name != "_native.mpy")
    p = subprocess.run([sys.executable, str(tools / "mpy-tool.py"), "-f", "-q", str(qstrs), *map(str, mods)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    # (the C core, m2v/_native.mpy, is a native module with relocations: mpy-tool cannot freeze it)
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(mods) == len(MODULES)
    assert p.stdout.count("// frozen module ") == len(mods)
    assert "// frozen native code for file" not in p.stdout
