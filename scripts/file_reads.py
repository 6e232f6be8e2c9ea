"""File reads per token in file mode, by section: the C core's access trace replayed through cache models.

    .venv/bin/python -m scripts.file_reads [--slots 64 256] [--rows 0 16] [--groups 1024] [--ps 6] [--head 2048]

Runs the C core (the committed x64 build) on the unix port with file mode's caches made transparent: a
one-slot page cache, no row cache, every table of the trie and the normaliser read through the cache
(none in RAM), and T[ACCEL] with the given number of group starts. Every page the core touches, in
order, then costs a read (a touch of the same page as the last one does not: any cache keeps it), and
every centroid row too, so the file reads that stream records form an access trace whatever the
configuration: each (page offset, length) read through a recording stream, per text, over the bench's
texts (scripts/bench.multilingual_groups: ascii, nonascii, fuzz). The trace is then replayed through a
model of file mode's caches (the page cache as m2v/_load.py page_cache builds it, 2**PS-byte pages: sets of
four ways, first in first out, from 16 to 64 slots, else direct-mapped on the page number; the row cache
direct-mapped on the row number; the tables in RAM skipped), once to warm the caches and once counted, and
the reads per token are printed per section and per group.

``--check`` first counts the reads of real runs on the unix port in the same configurations (the
caches as m2v/_load.py and m2v/_spend.py build them, put in by hand) and prints them beside the replay's:
the replay is a model, this is what it is checked against (make bench BOARD=cortex-m0 counts the same
reads on the emulated board: "file reads per token").
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import struct
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from . import bench, bench_board, board, gen_layout

log = logging.getLogger("file_reads")

NAMES = {1: "ASCII", 2: "NORM_RUNS", 3: "NORM_POOL", 4: "ADDED", 5: "SYMMAP", 6: "NODES", 7: "HASKIDS", 8: "HRANK",
         9: "GSTART", 10: "TRANK", 11: "RECORDS", 12: "WCODES", 13: "CENTROIDS"}  # fmt: skip
NEVER_PAGED = {1, 5, 12}  # ASCII, SYMMAP and WCODES are always in RAM
PS0 = 6  # the trace's page size (model.PS)
ROW = 4  # an access to a centroid row, in a trace entry
TAG = 5  # a page slot's tag (an int32 of model.PageCache.tags) and its share of a set's word: 2**ps + TAG B a slot
# model.WAYS, in a cache of model.WAYS_FROM to fewer than model.DIRECT slots (m2v/_load.py page_cache)
_MODEL = (board.DEVICE / "m2v" / "model.py").read_text()
WAYS, WAYS_FROM, DIRECT = (int(re.search(rf"^{k} = const\((\d+)\)", _MODEL, re.M).group(1))
                           for k in ("WAYS", "WAYS_FROM", "DIRECT"))
RTAG = 4  # a row slot's tag (an int32 in T[RCACHE])
# build_accel's fixed entries in T[ACCEL] (the run index, the roots' children, the header): m2v/_spend.py's _FIXED
FIXED = int(re.search(r"^_FIXED = const\((\d+)\)", (board.DEVICE / "m2v" / "_spend.py").read_text(), re.M).group(1))


def heap_bytes(secs: list[tuple[int, int, str]], ps: int, slots: int, rows: int, ram: set[str], head: int,
               groups: int, dims: int = 256) -> int:
    """The heap a configuration spends on a 32-bit board: page slots, row slots, NODES's head, the tables
    in RAM and T[ACCEL] (m2v/_load.py and m2v/_spend.py's sizes)."""
    nn = next(n for _, n, name in secs if name == "NODES")
    accel = 2 * (groups + (nn >> 5) + (nn >> 6) + 2 + FIXED) if groups else 0
    tables = sum(n for _, n, name in secs if name in ram)
    return slots * ((1 << ps) + TAG) + rows * (dims + RTAG) + head + tables + accel

# Runs on the unix port after bench_board.STREAM (the counting, recording stream): ARGS = [groups,
# texts.json, model, slots, rows, RAM section ids, trace (0/1)], L = the indices into T and c
# (m2v/_tok_py.py's, scripts/gen_layout.py), FIXED (m2v/_spend.py's); a section id i is T[i - 4] for
# the trie's and the runs' (T_NODES 2).
DEVICE = r"""
import json
from array import array
import m2v
G, texts, path, SLOTS, ROWS = int(ARGS[0]), json.load(open(ARGS[1])), ARGS[2], int(ARGS[3]), int(ARGS[4])
RAMSEC, TRACE = [int(x) for x in ARGS[5].split(",") if x], int(ARGS[6])
m = m2v.load(path, mode="file", ram=0)
tk, pc = m.tok, m.cache
T, c = tk.T, tk.c
from m2v import _load  # the loader's page cache of SLOTS slots (its ways as a load would give them)
r = Counting(pc.file)
pc = m.cache = _load.page_cache(r, SLOTS, m.dims)
for k in range(len(m._s)):
    if hasattr(m._s[k], "cache"):  # a FileSection
        m._s[k].cache = pc
T[L['T_CACHE']], T[L['T_TAGS']], T[L['T_FILE']], T[L['T_PAGE']], T[L['T_ROW']] = pc.buf, pc.tags, r, pc.page, pc.row
c[L['C_SM']], c[L['C_WSH']] = pc.sm, pc.wsh
for sid in RAMSEC:
    fs = m._s[sid]
    b = bytearray(fs.size)
    r.f.seek(fs.off)
    r.f.readinto(b)
    T[sid - 4] = b
nn = len(m._s[6])
T[L['T_ACCEL']] = bytearray(2 * (G + (nn >> 5) + (nn >> 6) + 2 + FIXED)) if G else None  # m2v/_spend.py's base
c[L['C_NG']] = 0
T[L['T_RCACHE']], c[L['C_NRC']] = None, 0
if ROWS:
    rc = bytearray(ROWS * (4 + m.dims))
    for k in range(4 * ROWS):
        rc[k] = 255
    T[L['T_RCACHE']], c[L['C_NRC']] = rc, ROWS
out = array("h", bytes(2 * m.dims))
m.embed_into("warm up", out)
res = {}
for g in texts:  # the bench's order: a tokenize pass, then the embeds
    res[g] = {"tokens": sum(len(m.tokenize(t)) for t in texts[g])}
for g in texts:
    n0, tr = r.n, []
    for t in texts[g]:
        r.log = [] if TRACE else None
        m.embed_into(t, out)
        tr.append(r.log)
    res[g]["reads"] = r.n - n0
    if TRACE:
        res[g]["trace"] = tr
print("@@" + json.dumps(res))
"""


def run_device(texts: Path, dev: Path, groups: int, slots: int, rows: int, ram: tuple[int, ...], trace: bool) -> dict:
    """DEVICE on the unix port with the x64 C core in ``dev``; its JSON result."""
    args = [str(groups), str(texts), str(board.MODEL), str(slots), str(rows), ",".join(map(str, ram)), str(int(trace))]
    code = (f"import sys\nsys.path.insert(0, {str(dev)!r})\nARGS = {args!r}\nL = {gen_layout.definition()!r}\n"
            f"FIXED = {FIXED}\n" + bench_board.STREAM + DEVICE)
    p = subprocess.run([board.micropython(), "-X", "heapsize=64M", "-c", code], capture_output=True, text=True,
                       timeout=1800)  # fmt: skip
    found = [line for line in p.stdout.splitlines() if line.startswith("@@")]
    if p.returncode or not found:
        raise RuntimeError(f"micropython failed: {(p.stdout + p.stderr)[-2000:]}")
    return json.loads(found[0][2:])


def sections() -> list[tuple[int, int, str]]:
    """(offset, size, name) of the default model's sections, by offset."""
    b = board.MODEL.read_bytes()
    out = []
    for i in range(13):
        sid, _, off, n = struct.unpack_from("<HHII", b, 64 + 12 * i)
        out.append((off, n, NAMES[sid]))
    return sorted(out)


class Replay:
    """File mode's caches as the C core's: ``slots`` pages of 2**ps bytes (sets of WAYS ways, first in first out,
    where m2v/_load.py page_cache gives them, else direct-mapped), ``rows`` rows (direct-mapped)."""

    def __init__(self, secs: list[tuple[int, int, str]], ps: int, slots: int, rows: int, ram: set[str],
                 head: int = 0) -> None:
        self.secs, self.ps, self.slots, self.rows, self.ram = secs, ps, slots, rows, ram
        # NODES's first ``head`` bytes in RAM (m2v/_load.py's head): a page wholly within them is not read
        self.head_end = next(o for o, _, name in secs if name == "NODES") + head
        self.ways = WAYS if WAYS_FROM <= slots < DIRECT else 1
        self.sets: dict[int, list[int]] = {}  # a set's pages, the first in first
        self.rtags: dict[int, int] = {}
        self.ocen = next(o for o, _, name in secs if name == "CENTROIDS")
        self._sec: dict[int, str] = {}

    def section(self, off: int) -> str:
        """The paged section a trace page at ``off`` belongs to: the last one that starts in it or before."""
        if off not in self._sec:
            name = "?"
            for o, n, s in self.secs:
                if s not in ("ASCII", "SYMMAP", "WCODES") and o < off + (1 << PS0) and off < o + n:
                    name = s
            self._sec[off] = name
        return self._sec[off]

    def text(self, reads: list[list[int]], dims: int, count: Counter) -> None:
        """Replay one text's trace, adding its reads by section to ``count``."""
        last = None
        for off, n in reads:
            if n == dims and off >= self.ocen:
                r = (off - self.ocen) // dims
                s = r % self.rows if self.rows else -1
                if s < 0 or self.rtags.get(s) != r:
                    count["centroid rows"] += 1
                    if s >= 0:
                        self.rtags[s] = r
                last = None
                continue
            name = self.section(off)
            if name in self.ram or name == "NODES" and off + (1 << PS0) <= self.head_end:
                continue
            p = off >> self.ps
            if p == last:
                continue
            last = p
            ways = self.sets.setdefault(p % (self.slots // self.ways), [])
            if p not in ways:
                ways.append(p)
                if len(ways) > self.ways:
                    del ways[0]
                count[name] += 1


def replay(data: dict, secs: list, ps: int, slots: int, rows: int, ram: set[str], head: int = 0,
           dims: int = 256) -> dict:
    """Reads per token by group and section, the caches warmed by one pass over the whole trace."""
    rp = Replay(secs, ps, slots, rows, ram, head)
    for g in data:
        for t in data[g]["trace"]:
            rp.text(t, dims, Counter())
    res = {}
    for g in data:
        c: Counter = Counter()
        for t in data[g]["trace"]:
            rp.text(t, dims, c)
        res[g] = {k: v / data[g]["tokens"] for k, v in c.items()}
    return res


def main(argv: list[str] | None = None) -> int:
    """Record the traces, optionally check the replay against counted runs, print the tables."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, nargs="+", default=[1024], help="T[ACCEL]'s group starts")
    ap.add_argument("--slots", type=int, nargs="+", default=[64, 256], help="page cache slots (a power of two)")
    ap.add_argument("--rows", type=int, nargs="+", default=[0, 16], help="row cache rows (a power of two, or 0)")
    ap.add_argument("--ps", type=int, nargs="+", default=[PS0], help="page size 2**PS (>= 6: the trace's)")
    ap.add_argument("--ram", default="HASKIDS,GSTART", help="the sections in RAM, by name")
    ap.add_argument("--head", type=int, default=0, help="NODES's first bytes in RAM (replay only)")
    ap.add_argument("--check", action="store_true", help="count real runs alike on the unix port first")
    a = ap.parse_args(argv)
    ids = {v: k for k, v in NAMES.items()}
    ram = {s for s in a.ram.split(",") if s}
    secs = sections()
    texts = bench.multilingual_groups()
    with tempfile.TemporaryDirectory() as d:
        tpath = Path(d) / "texts.json"
        tpath.write_text(json.dumps(texts))
        dev = board.native_device(Path(d) / "dev")
        for G in a.groups:
            data = run_device(tpath, dev, G, 1, 0, (), True)
            for ps in a.ps:
                for slots in a.slots:
                    for rows in a.rows:
                        res = replay(data, secs, ps, slots, rows, ram, a.head)
                        tot = sum(sum(res[g].values()) * data[g]["tokens"] for g in res)
                        ntok = sum(data[g]["tokens"] for g in data)
                        line = f"groups {G}, 2**{ps}-byte pages x {slots}, {rows} rows, in RAM {sorted(ram)}"
                        line += f" and NODES's first {a.head} B: " if a.head else ": "
                        line += f"{tot / ntok:.2f} reads per token, "
                        line += f"{heap_bytes(secs, ps, slots, rows, ram, a.head, G)} B of heap"
                        if a.check and ps == PS0 and not a.head:
                            real = run_device(tpath, dev, G, slots, rows, tuple(ids[s] for s in ram), False)
                            line += f" (counted on the unix port: {sum(real[g]['reads'] for g in real) / ntok:.2f})"
                        print(line)
                        keys = sorted({k for g in res for k in res[g]})
                        print(f"  {'section':14}" + "".join(f"{g:>9}" for g in res))
                        for k in keys:
                            print(f"  {k:14}" + "".join(f"{res[g].get(k, 0):9.2f}" for g in res))
                        print(f"  {'all':14}" + "".join(f"{sum(res[g].values()):9.2f}" for g in res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
