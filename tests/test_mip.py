"""Install like a MicroPython library: `mpremote mip install` of the checkout, then of the model, on a fresh virtual board."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mpy import MODEL

from scripts import build_dist, flash

ROOT = Path(__file__).resolve().parent.parent

TEXTS = ["turn on the kitchen lights", "Wie spät ist es?", "", "naïve café — 3.14 😀 OK"]
# what the board reports about the package it imported
PROBE = """
import sys, json
import m2v, m2v.pool, m2v.tok
m = m2v._model()
m.embed("warm up")
print('@@' + json.dumps({'file': m2v.__file__, 'impl': m.impl, 'lib': [p for p in sys.path if p.endswith('/lib')]}))
"""


def mip(port: str, package: Path) -> str:
    """`mpremote mip install PACKAGE` on the board; its output."""
    cmd = flash.mpremote_exe() + ["connect", port, "resume", "mip", "install", str(package)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Done" in p.stdout, p.stdout
    return p.stdout


def test_package_json_lists_every_module():
    root = json.loads((ROOT / "package.json").read_text())
    assert root == build_dist.sources_package(), "package.json is stale: python -m scripts.build_dist --sources-json"
    assert {t for t, _ in root["urls"]} == {f"m2v/{p.name}" for p in (ROOT / "device" / "m2v").glob("*.py")}
    assert all((ROOT / url).is_file() for _, url in root["urls"])
    model = json.loads((ROOT / "firmware_assets" / "package.json").read_text())
    assert model["urls"] == [["model.m2v", "model.m2v"]]
    assert model["version"] == root["version"] == build_dist.version()


def test_mip_install_checkout_then_model(board):
    """The sources (compiled by the board, viper included) into lib/m2v, the model into lib/model.m2v."""
    port, d = board
    mip(port, ROOT / "package.json")
    mip(port, ROOT / "firmware_assets" / "package.json")
    for p in (ROOT / "device" / "m2v").glob("*.py"):
        assert (d / "lib" / "m2v" / p.name).read_bytes() == p.read_bytes(), p.name
    assert (d / "lib" / "model.m2v").read_bytes() == MODEL.read_bytes()
    assert not (d / "model.m2v").exists()  # m2v.load() finds it in lib, where mip put it

    info = flash.board_json(port, PROBE)
    assert info["file"] == str(d / "lib" / "m2v" / "__init__.py")
    # viper compiled from source on the board (a source install has no C core); file mode
    assert info["impl"] == {"tok": "viper", "pool": "viper", "loop": "py"}, info
    got = [r[0] for r in flash.embed_on_board(port, TEXTS)["r"]]
    assert got == flash.reference_vectors(MODEL, TEXTS)


def test_mip_install_dist_build(board, tmp_path):
    """`make dist`'s per-architecture package (x64 for the unix port) through mip."""
    port, d = board
    pkg = build_dist.build("x64", tmp_path / "dist").parent
    assert pkg.name == "x64_6.3"
    mip(port, pkg / "package.json")
    mip(port, ROOT / "firmware_assets" / "package.json")
    names = sorted(p.name for p in (d / "lib" / "m2v").iterdir())
    assert names == sorted([p.stem + ".mpy" for p in (ROOT / "device" / "m2v").glob("*.py")] + ["_native.mpy"])
    info = flash.board_json(port, PROBE)
    assert info["file"] == str(d / "lib" / "m2v" / "__init__.mpy")
    # the x64 build carries the C core: the default file mode (ram=None: the tables in RAM on this heap) runs in C
    assert info["impl"] == {"tok": "native", "pool": "native", "loop": "native"}, info
    got = [r[0] for r in flash.embed_on_board(port, TEXTS)["r"]]
    assert got == flash.reference_vectors(MODEL, TEXTS)
