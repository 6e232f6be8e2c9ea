"""File mode's page cache (m2v/model.py PageCache): its ways, its replacement, and the C core's and the twin's agreement.

A cache of 16 to 64 slots has sets of four ways, first in first out; one of 8 slots or fewer, or of
model.DIRECT slots or more, is direct-mapped (m2v/_load.py page_cache). The same accesses through the
pure-Python twin (model.FileSection) and through the C core (its ``field``, which reads RECORDS through the
cache) must read the same pages and leave the same tags and set words, on the unix port.
"""

from __future__ import annotations

import pytest
from mpy import MODEL, board, native_device

from scripts import gen_layout
from scripts.board import result_of

# Runs on the unix port: the model loaded in file mode (ram=0), its page cache replaced by one of K slots
# that reads through a counting stream; the byte offsets OFFS of RECORDS read through the twin (a
# FileSection over RECORDS, each offset and the two after it) or through the C core's field() (which reads
# those three); prints the reads, the bytes and the tags.
SNIPPET = r"""
import json
import m2v
from m2v import _load, tok
from m2v.model import FileSection

class Counting:
    def __init__(s, f):
        s.f, s.n = f, 0
    def seek(s, *a):
        return s.f.seek(*a)
    def readinto(s, b):
        s.n += 1
        return s.f.readinto(b)

m = m2v.load(PATH, mode="file", ram=0)
rec = m.records
f = Counting(open(PATH, "rb"))
pc = _load.page_cache(f, K, m.dims)
out = {"wsh": pc.wsh, "kind": tok.kind}
if KIND == "py":
    fs = FileSection(pc, rec.off, rec.size)
    got = []
    for i in OFFS:  # the bytes field() reads: a field of at most 17 bits spans three
        got.append(fs[i])
        for j in range(i + 1, min(i + 3, rec.size)):
            fs[j]
else:
    T, c = m.tok.T, m.tok.c
    T[L["T_CACHE"]], T[L["T_TAGS"]], T[L["T_FILE"]], T[L["T_PAGE"]] = pc.buf, pc.tags, f, pc.page
    c[L["C_SM"]], c[L["C_WSH"]] = pc.sm, pc.wsh
    got = [tok.core.field(T, c, 8 * i, 8) for i in OFFS]
raw = open(PATH, "rb")
raw.seek(rec.off)
data = raw.read(rec.size)
out["bytes_ok"] = got == [data[i] for i in OFFS]
out["reads"] = f.n
out["tags"] = list(pc.tags)
out["orc"] = rec.off
print("@@" + json.dumps(out))
"""


def run(kind: str, k: int, offs: list[int], dev) -> dict:
    code = f"PATH = {str(MODEL)!r}\nK = {k}\nKIND = {kind!r}\nOFFS = {offs!r}\nL = {gen_layout.definition()!r}\n"
    with board.UnixBoard(device=dev) as b:
        p = b.run(code + SNIPPET, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    r = result_of(p.stdout)
    assert r["kind"] == "native"  # tok.core is the C core (the twin's run reads through FileSection only)
    return r


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return native_device(tmp_path_factory.mktemp("dev"))


def pages_apart(orc: int, step: int, n: int) -> list[int]:
    """Byte offsets into RECORDS of n pages ``step`` pages apart (pages of one set: step = the sets)."""
    first = (orc >> 6) + 1  # a page wholly inside RECORDS
    return [((first + j * step) << 6) - orc for j in range(n)]


@pytest.mark.parametrize("k, wsh", [(8, 0), (16, 2), (64, 2), (128, 0)])
def test_ways_by_size_and_twins_agree(dev, k, wsh):
    # a pseudo-random walk over RECORDS, with runs in one page and jumps: the twin and the C core read
    # the same bytes and pages and end with the same tags and set words
    offs, x = [], 12345
    for _ in range(3000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        offs.append(x % 40000 if x & 3 else (offs[-1] + 1 if offs else 0) % 40000)
    py, c = run("py", k, offs, dev), run("native", k, offs, dev)
    assert py["wsh"] == c["wsh"] == wsh
    assert py["bytes_ok"] and c["bytes_ok"]
    assert py["reads"] == c["reads"] > 0
    assert py["tags"] == c["tags"]
    assert len(py["tags"]) == k + (k // 4 if wsh else 0)


@pytest.mark.parametrize("kind", ["py", "native"])
def test_four_ways_first_in_first_out(dev, kind):
    # five pages of one set of a 16-slot cache: the fifth replaces the first; the other four stay
    orc = run(kind, 16, [0], dev)["orc"]
    five = pages_apart(orc, 16 // 4, 5)
    r = run(kind, 16, five + five[1:], dev)
    assert r["bytes_ok"] and r["reads"] == 5  # the second pass over pages 2-5: all hits
    r = run(kind, 16, five + five[:1], dev)
    assert r["reads"] == 6  # page 1 was replaced by page 5: read again
    r = run(kind, 16, five[:4] + five[:4], dev)
    assert r["reads"] == 4  # four pages fit one set
    two = pages_apart(orc, 8, 2)  # direct-mapped 8 slots: pages 8 apart share a slot
    r = run(kind, 8, two + two, dev)
    assert r["wsh"] == 0 and r["reads"] == 4
