"""Heap figures on the real MicroPython unix port, with the precompiled (.mpy) package.

The target: importing the package, loading the default model from a
file and embedding a 3,000-character text succeed under ``-X heapsize=32K``
(the test also reports the smallest heap that works).
On the unix port the .mpy bytecode itself is loaded into the heap; on a board
with the package frozen or in ROMFS it is not.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from mpy import MODEL

from host_tools import reference
from scripts import build_dist, gen_layout
from scripts.board import UnixBoard

TEXT_3K = ("The quick brown fox jumps over the lazy dog near the riverbank. " * 48)[:3000]


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory) -> Path:
    """device/m2v cross-compiled for the unix port (x64), exactly as scripts/build_dist.py builds it."""
    pkg = build_dist.build("x64", tmp_path_factory.mktemp("dist"))
    assert not list(pkg.glob("*.py"))
    return pkg.parent


def run(code: str, path: Path, heap: str) -> subprocess.CompletedProcess:
    return UnixBoard(heap=heap, device=path).run(code, timeout=120)


def figures(proc: subprocess.CompletedProcess) -> dict[str, int]:
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-1500:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", proc.stdout)}


def script_3k(text_path: Path) -> str:
    return f"""
import gc
gc.collect()
a0 = gc.mem_alloc()
import m2v
gc.collect()
a1 = gc.mem_alloc()
m = m2v.load({str(MODEL)!r}, mode="file")
gc.collect()
a2 = gc.mem_alloc()
v = m.embed(open({str(text_path)!r}).read())
gc.collect()
# native=1: the C core ran the whole embed (a fallback to the twins would hold other code)
print("base=%d imported=%d loaded=%d embedded=%d v0=%d v1=%d native=%d" % (a0, a1, a2, gc.mem_alloc(), v[0], v[1],
      m.impl == {{"tok": "native", "pool": "native", "loop": "native"}}))
"""


def test_3000_chars_in_35k_heap(mpy_dir, tmp_path, report):
    """Import the .mpy package, load the model from a file, embed 3,000 characters, all in a 35 KiB heap.

    The smallest heap that works is reported too: 32 KiB before the per-object locks (m2v/model.py:
    about 1.5 KB more code resident on the unix port's 64-bit heap), 35,328 B with file mode's larger
    C core and tokenizer module, and since the load runs in two halves (m2v/_header.py, dropped
    before the sections are read) and its run-once code (m2v/_setup.py) leaves the heap: a load
    alone then works in 29,952 B, and what a 3,000-character text needs beyond it depends on how
    the free heap splits (docs/PERFORMANCE.md).
    """
    (tmp_path / "t.txt").write_text(TEXT_3K)
    code = script_3k(tmp_path / "t.txt")
    want = reference.load(MODEL).embed(TEXT_3K)
    big = figures(run(code, mpy_dir, "2M"))
    assert (big["v0"], big["v1"], big["native"]) == (int(want[0]), int(want[1]), 1)
    report("heap: gc.mem_alloc after start / import m2v / load (file) / embed 3,000 chars (B)",
           f"{big['base']} / {big['imported']} / {big['loaded']} / {big['embedded']}")  # fmt: skip
    # smallest heap that works, in 512-byte steps (fragmentation makes it not quite monotonic)
    works = [k * 512 for k in range(48, 97) if run(code, mpy_dir, str(k * 512)).returncode == 0]
    report("heap: smallest -X heapsize for import + load + embed 3,000 chars (B)", works[0] if works else "> 48K")
    assert works and works[0] <= 35 * 1024
    got = figures(run(code, mpy_dir, "35K"))
    assert (got["v0"], got["v1"], got["native"]) == (int(want[0]), int(want[1]), 1)


def test_load_and_a_sentence_in_31k_heap(mpy_dir, report):
    """Import, a file-mode load and a sentence's embed work in a 31 KiB heap, the vector the reference's.

    A load's peak is its code beside the model's objects: m2v/_header.py's checks are dropped before
    the sections are read and m2v/_setup.py runs once after the loader is dropped (32,256 B was the
    smallest heap when one loader module did all of it; 30,464 B since, in this script).
    """
    text = "turn on the kitchen lights"
    code = f"""
import m2v
m = m2v.load({str(MODEL)!r}, mode="file")
v = m.embed({text!r})
print("v0=%d v1=%d native=%d" % (v[0], v[1], m.impl == {{"tok": "native", "pool": "native", "loop": "native"}}))
"""
    want = reference.load(MODEL).embed(text)
    works = [k * 256 for k in range(104, 129) if run(code, mpy_dir, str(k * 256)).returncode == 0]
    report("heap: smallest -X heapsize for import + load + embed a sentence (B)", works[0] if works else "> 32K")
    assert works and works[0] <= 31 * 1024
    got = figures(run(code, mpy_dir, "31K"))
    assert (got["v0"], got["v1"], got["native"]) == (int(want[0]), int(want[1]), 1)


def test_million_characters_within_64k_beyond_text(mpy_dir):
    """A 1,000,000-character text embeds in a heap of the text's size plus 64 KiB (package and model included)."""
    code = f"""
text = "word " * 200000
import m2v
m = m2v.load({str(MODEL)!r}, mode="file")
v = m.embed(text)
print("len=%d v0=%d" % (len(text), v[0]))
"""
    got = figures(run(code, mpy_dir, str(1_000_000 + 64 * 1024)))
    assert got["len"] == 1_000_000
    assert got["v0"] == int(reference.load(MODEL).embed("word " * 200_000)[0])


def test_ram_budget(mpy_dir, report):
    """File mode with ``ram=``: extra heap stays within the budget; the tokenizer tables go to RAM only when they fit."""
    code = f"""
import gc, m2v
P = {str(MODEL)!r}
def load(ram):
    gc.collect()
    a = gc.mem_alloc()
    m = m2v.load(P, mode="file", ram=ram)
    gc.collect()
    return m, gc.mem_alloc() - a
load(0)  # the first load also imports the tokenizer and pooling modules
m0, h0 = load(0)
need = m0.ram_need
v0 = list(m0.embed("a ram budget"))
for name, ram in (("small", 20000), ("below", need - 1), ("tables", need), ("more", need + 40000)):
    m, h = load(ram)
    print("%s_extra=%d %s_budget=%d %s_tables=%d %s_cache=%d %s_same=%d" % (name, h - h0, name, ram, name,
          m.ram_tables, name, m.cache_bytes, name, list(m.embed("a ram budget")) == v0))
    m.close()
for bad in (-1, "64K", 1.5):
    try:
        m2v.load(P, mode="file", ram=bad)
        print("accepted=1")
    except ValueError:
        pass
print("need=%d base_tables=%d base_cache=%d" % (need, m0.ram_tables, m0.cache_bytes))
"""
    got = figures(run(code, mpy_dir, "1M"))
    assert "accepted" not in got
    need = got["need"]
    assert 80_000 < need < 100_000  # normaliser runs and pool, NODES, HASKIDS and the rank/select samples
    assert (got["base_tables"], got["base_cache"]) == (0, 512)
    for name in ("small", "below", "tables", "more"):
        # every budget gives the same vector and costs at most its size in heap (plus a slack for heap layout)
        assert got[f"{name}_same"] == 1
        assert got[f"{name}_extra"] <= got[f"{name}_budget"] + 256, name
        report(f"heap: file mode, ram={got[name + '_budget']}: extra heap / tables in RAM / page cache (B)",
               f"{got[name + '_extra']} / {got[name + '_tables']} / {got[name + '_cache']}")  # fmt: skip
    # below the tables' size the budget buys the trie's group samples, a page cache, then its bit
    # vector and a larger page cache (m2v/_load.py _PART: reads saved per byte); from it on, the tables
    assert 0 < got["small_tables"] < got["below_tables"] < 20000
    assert got["small_cache"] >= 512 and got["below_cache"] >= 8192  # _MAX_SLOTS: 128 slots of 64 B
    assert got["tables_tables"] == got["more_tables"] == need
    assert got["tables_cache"] == 512 and got["more_cache"] >= 8192
    # the tables cost their own bytes (less the file sections they replace)
    assert need - 1024 <= got["tables_extra"] <= need + 1024


def test_default_budget_by_heap(mpy_dir, report):
    """ram=None's share (m2v/_load.py share()): nothing on a small heap, at most 61 KiB less the C core on a board's, and on a
    heap of megabytes all of the tokenizer's tables and a row-cache slot for every centroid row."""
    code = f"""
import gc, m2v
gc.collect()
free = gc.mem_free()
m = m2v.load({str(MODEL)!r}, mode="file")
gc.collect()
v = m.embed("a default budget")
print("free=%d spent=%d tables=%d need=%d rows=%d ncen=%d v0=%d" % (free, free - gc.mem_free(), m.ram_tables,
      m.ram_need, m.tok.c[{gen_layout.definition()["C_NRC"]}], m.n_centroids, v[0]))
"""
    want = int(reference.load(MODEL).embed("a default budget")[0])
    small, board, large = (figures(run(code, mpy_dir, h)) for h in ("40K", "192K", "8M"))
    for got in (small, board, large):
        assert got["v0"] == want
    assert small["tables"] == 0 and small["rows"] == 0  # 32 KiB or less free: the ram=0 footprint
    assert 0 < board["tables"] < board["need"] and board["spent"] < 64 * 1024
    assert large["tables"] == large["need"] and large["rows"] >= large["ncen"]
    assert large["spent"] <= large["free"] // 8 + 32 * 1024  # the share, plus the model's own objects
    report("heap: ram=None on the unix port, 40K / 192K / 8M heap: heap spent by load and an embed (B)",
           f"{small['spent']} / {board['spent']} / {large['spent']}")
