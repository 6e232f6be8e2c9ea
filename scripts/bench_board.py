"""Instructions per token on an emulated board (qemu ``-icount shift=0``): exact and repeatable.

    m2v bench --suite embed --board cortex-m0      (python -m host_tools bench)
    make bench BOARD=cortex-m0|cortex-m7|rv32imc|xtensa-lx7

Runs scripts/bench.py's device snippet (the same split of an embed into tokenizing and pooling) on
the board of scripts/emuboard.py, with the package's .mpy for the board's architecture and the model
in a ROMFS image, once per configuration on a fresh board, on texts of the project's multilingual
corpus grouped by script (bench.multilingual_groups: ascii, nonascii, fuzz). Per heap, an
RP2040-class 192 KiB and an ESP32-class 100 KiB: ROMFS mode (read in place), file mode with the
default ``ram=None`` ("file+auto": its share of the heap) and with ``ram=0`` (everything streamed
through a 512-byte page cache), all with the native C core; on the 192 KiB heap also file mode with
``ram=RAM_TABLES`` (the tokenizer's tables in RAM). The harness's texts stay in the heap, as an
application's data would. Under ``-icount`` a ``time.ticks_us()`` unit is a fixed number of executed
instructions, calibrated against an inline-assembler loop; every figure below is instructions, not
time. Also counted: file reads per token in file mode (seek + readinto calls through a counting
stream put in place of the timed model's file, in a pass of its own so that the wrapper's cost stays
out of the instruction counts), instructions to load the model (with and without the CRC pass), the
heap the package holds after load (beyond ``import m2v``) and the free heap; then, per heap, the
package alone on a fresh board (``import m2v``, the default load, an embed): the heap it holds, the
free heap and its largest block.

The pure-Python twins are not benchmarked here (their parity is tested). One CSV row per figure
goes to benchmarks/results.csv with machine ``qemu-BOARD``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from . import bench, emuboard, gen_layout
from .board import ROOT, open_board

log = logging.getLogger("bench_board")
RAM_TABLES = 100_000  # docs/BOARDS.md's advice for an RP2040: the tokenizer's tables in RAM

# A stream that wraps a model's file and counts its reads (read, readinto), and with a log
# list records (offset, size) of each readinto: the board-side wrapper of the reads counted
# here and of scripts/file_reads.py's trace (one class for both).
STREAM = r"""
class Counting:
    def __init__(self, f):
        self.f, self.pos, self.n, self.log = f, 0, 0, None

    def seek(self, off, whence=0):
        self.pos = off if whence == 0 else None
        return self.f.seek(off, whence)

    def tell(self):
        return self.f.tell()

    def read(self, *a):
        self.n += 1
        return self.f.read(*a)

    def readinto(self, b):
        self.n += 1
        if self.log is not None:
            self.log.append((self.pos, len(b)))
        k = self.f.readinto(b)
        if self.pos is not None:
            self.pos += k
        return k

    def close(self):
        self.f.close()
"""

# Runs on the board after the snippet: file reads per token in default file mode, counted
# through a stream that wraps the ROMFS file (the model accepts any object with readinto/seek).
READS = STREAM + f"""
_T_FILE = {gen_layout.definition()["T_FILE"]}  # m2v/_tok_py.py's
""" + r"""
# counted on the timed model itself, its configuration as it is (the tables, the caches and
# the native core's row cache that ram=None gave it): its file swapped for the counting stream
_s = Counting(m.cache.file)
m.cache.file = _s
m.tok.T[_T_FILE] = _s  # where the cores read the file
_m = m
_m.embed("warm up")
_n0, _tokens = _s.n, 0
for _g in TEXTS:
    for _t in TEXTS[_g]:
        _tokens += len(_m.tokenize(_t))
_n1 = _s.n
for _g in TEXTS:
    for _t in TEXTS[_g]:
        _m.embed_into(_t, out)
print("@@" + json.dumps({"reads_tokenize": _n1 - _n0, "reads_embed": _s.n - _n1, "tokens": _tokens}))
"""


# On a fresh board: the package alone, the default load (ram=None) and a first embed, then
# the heap it holds (beyond the interpreter's start), the free heap and its largest block
# (bisection over allocations, a failed one collecting first; run last: a stale pointer to
# its last block may keep that block from the collector)
LAYOUT = r"""
import gc
gc.collect()
a0 = gc.mem_alloc()
import m2v
m = m2v.load(SRC, mode=MODE)
m.embed("warm up the model")
gc.collect()
held, free = gc.mem_alloc() - a0, gc.mem_free()
lo, hi = 0, free
while lo < hi:
    mid = (lo + hi + 1) >> 1
    try:
        b = bytearray(mid)
        b = None
        lo = mid
    except MemoryError:
        hi = mid - 1
print("@@%d %d %d" % (held, free, lo))
"""


def layout(board: str, heap: int, mode: str) -> tuple[int, int, int]:
    """The LAYOUT figures (held, free, largest free block) for the default load in mode on a fresh board."""
    with open_board(board, heap=heap) as b:
        out = b.exec(f"SRC = '/rom/model.m2v'\nMODE = {mode!r}\n" + LAYOUT, timeout=600)
    line = next(x for x in out.splitlines() if x.startswith("@@"))
    held, free, big = (int(x) for x in line[2:].split())
    return held, free, big


def run(board: str, heap: int, groups: dict, mode: str, ram: int | None, reads: bool, impl: str = "native") -> dict:
    """One configuration on a fresh board; the snippet's figures with ticks turned into instructions."""
    prelude = (
        "import json\nTEXTS = json.load(open('/rom/bench.json'))\n"
        f"MODE = {'rom' if mode == 'rom' else 'file'!r}\nSRC = {'' if mode == 'rom' else '/rom/model.m2v'!r}\n"
        f"IMPL = {impl!r}\nROUNDS = 1\nRAM = {ram!r}\n"
    )
    with open_board(board, {"bench.json": json.dumps(groups).encode()}, heap=heap, icount=True) as b:
        ipt = b.instructions_per_tick()
        out = b.exec(prelude + bench.SNIPPET + (READS if reads else ""), timeout=1800)
    found = [json.loads(line[2:]) for line in out.splitlines() if line.startswith("@@")]
    res = found[0]
    res["ipt"] = ipt
    if reads:
        res["reads"] = found[1]
    return res


def main(argv: list[str] | None = None) -> int:
    """Run every configuration on one board, print the table, append the CSV rows."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="cortex-m0", choices=list(emuboard.BOARDS))
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    a = ap.parse_args(argv)
    groups = bench.multilingual_groups()  # ascii, nonascii, fuzz: the project's corpus by script
    configs = []
    for heap in (emuboard.HEAP_RP2040, emuboard.HEAP_ESP32):
        configs += [(heap, "rom", 0, groups, "native"), (heap, "file+auto", None, groups, "native"),
                    (heap, "file", 0, groups, "native")]
    configs += [(emuboard.HEAP_RP2040, "file+ram", RAM_TABLES, groups, "native")]
    rows: list[tuple[str, float]] = []
    machine = f"qemu-{a.board}"
    print(f"m2v bench on the emulated {a.board} (MicroPython 1.28.0, {emuboard.BOARDS[a.board].arch} .mpy): "
          "instructions per token")  # fmt: skip
    print(f"{'heap':>5} {'config':16} {'group':7} {'n':>4} {'tok/txt':>7} {'embed':>8} {'tokenize':>9} {'pool':>7}")
    rom_ipt: dict[tuple[int, str, str], float] = {}
    for heap, mode, ram, texts, impl in configs:
        try:
            r = run(a.board, heap, texts, mode, ram, reads=mode.startswith("file"), impl=impl)
        except emuboard.BoardError as e:
            log.error("%s heap %d %s/%s: %s", a.board, heap, mode, impl, e)
            continue
        ipt = r["ipt"]
        cfg = f"{mode}/{impl}"
        k = f"{cfg}.heap{heap // 1024}K"
        for name, g in r["groups"].items():
            tpt = g["tokens"] / g["n"]
            e, t, p = (g[x] * ipt / tpt for x in ("embed_us", "tok_us", "pool_us"))
            if mode == "rom":
                rom_ipt[(heap, name, impl)] = e
            base = rom_ipt.get((heap, name, impl))
            vs = f"  {e / base:.2f}x ROMFS" if base and mode != "rom" else ""
            print(f"{heap // 1024:4}K {cfg:16} {name:7} {g['n']:4} {tpt:7.1f} {e:8.0f} {t:9.0f} {p:7.0f}{vs}")
            rows += [(f"{name}.{k}.instr_per_token", e), (f"{name}.{k}.tokenize_instr_per_token", t),
                     (f"{name}.{k}.pool_instr_per_token", p), (f"{name}.{k}.tokens_per_text", tpt),
                     (f"{name}.{k}.alloc_bytes_per_embed", g["alloc_per_embed"])]  # fmt: skip
        load, nocrc = r["load_us"] * ipt, r["load_nocrc_us"] * ipt
        line = f"      {cfg:16} load {load / 1e6:.1f} M instructions with CRC, {nocrc / 1e6:.1f} M without; "
        line += f"heap held after load {r['held']} B (C core's tables and row cache {r.get('accel', 0)} B, "
        line += f"tables in RAM {r['ram_tables']} B, page cache {r['cache']} B); free {r['free']} B"
        rows += [(f"load.{k}.instructions", load), (f"load.{k}.nocrc_instructions", nocrc),
                 (f"load.{k}.heap_bytes", r["held"]), (f"load.{k}.free_bytes", r["free"])]  # fmt: skip
        if "reads" in r:
            rd = r["reads"]
            per_tok = rd["reads_embed"] / rd["tokens"]
            line += f"; file reads per token {per_tok:.2f} (tokenize alone {rd['reads_tokenize'] / rd['tokens']:.2f})"
            rows.append((f"all.{k}.file_reads_per_token", per_tok))
        print(line)
    for heap in (emuboard.HEAP_RP2040, emuboard.HEAP_ESP32):
        for mode in ("file", "buf"):
            try:
                held, free, big = layout(a.board, heap, mode)
            except (emuboard.BoardError, StopIteration) as e:
                log.error("%s heap %d layout %s: %s", a.board, heap, mode, e)
                continue
            k = f"{'rom' if mode == 'buf' else 'file+auto'}.heap{heap // 1024}K"
            print(f"{heap // 1024:4}K {k.split('.')[0]:16} fresh board, import m2v + default load + an embed: "
                  f"holds {held} B; free {free} B, largest free block {big} B ({big / max(free, 1):.0%})")
            rows += [(f"fresh.{k}.held_bytes", held), (f"fresh.{k}.free_bytes", free),
                     (f"fresh.{k}.largest_free_block", big)]
    print(f"instructions per µs of time.ticks_us(): {r['ipt']:.1f} (calibrated)")
    best = rom_ipt.get((emuboard.HEAP_RP2040, "nonascii", "native"))
    if a.board == "cortex-m0" and best:
        # an RP2040's Cortex-M0+ takes one cycle for most instructions, two for loads and stores: a lower bound
        print(f"RP2040 at 125 MHz, ROMFS mode, the C core, non-ASCII texts: at least {best / 125:.0f} µs per token")
    bench.append_rows(a.csv, machine, rows)
    return 0

