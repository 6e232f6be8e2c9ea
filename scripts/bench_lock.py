"""The cost of the per-object lock (m2v/model.py) that every public call of a Model, an Index and a Classifier takes.

    m2v bench --suite lock [--board cortex-m0]
    make bench-lock

Model.embed_into's Python twin as written in device/m2v/model.py and the same without its guard
(both compiled on the board from that source: scripts/bench_lock.py's twins()) embed one short text 500
times each, alternating, best of 3 rounds: the difference is the guard's cost per call. On the
emulated board (qemu ``-icount shift=0``: instructions, calibrated as scripts/bench_board.py does),
ROMFS mode with the C core (the fastest embed, so the largest share for a per-call cost) and file
mode; per token and as a share of the embed for the bench's real and short texts. The qemu firmware
has no ``_thread``: the guard's path there is the owner flag of a port without threads. On the unix
port (its ``_thread`` has no GIL), nanoseconds per call with the ``_thread`` lock and without it.

Model.embed_into's C call (m2v_native.c embed) takes the lock and releases it on any exception
itself, so the entry (the C core's Entry, or its Python twin) has no exception handler and the
twin's frame is on the C stack, not a heap block per call."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from . import bench, emuboard
from .board import MODEL, ROOT, Board, UnixBoard, open_board

log = logging.getLogger("bench_lock")

# TEXTS, MODE ("rom" or "file"), ROUNDS, NOLOCK, GUARDED and BARE (sources: twins()) are prepended.
SNIPPET = r"""
import gc, time, json
import m2v
from m2v import model as M
try:
    import _thread
    thr = 1
except ImportError:
    thr = 0
if NOLOCK:
    M.allocate_lock = None  # the path of a port without _thread
m = m2v.load("/rom/model.m2v") if MODE == "rom" else m2v.load("/rom/model.m2v", mode="file", ram=0)
out = m.embed("warm up")
tok = M.tok  # embed_into's global
exec(GUARDED)
exec(BARE)
M.Model.guarded = guarded
M.Model.bare = bare
tokens = 0
for t in TEXTS:
    tokens += len(m.tokenize(t))
# the guard per call: one short text embedded N times (its rows stay cached), through the two
# twins, alternating, best of ROUNDS
N = 500
best = {}
for _ in range(ROUNDS):
    for k in ("guarded", "bare"):
        f = getattr(m, k)
        gc.collect()
        gc.disable()
        t0 = time.ticks_us()
        for _ in range(N):
            f("turn on the lights", out)
        dt = time.ticks_diff(time.ticks_us(), t0)
        gc.enable()
        if dt < best.get(k, 1 << 30):
            best[k] = dt
# the embed per token (the package's embed_into): every text twice, the second pass timed
for t in TEXTS:
    m.embed_into(t, out)
gc.collect()
t0 = time.ticks_us()
for t in TEXTS:
    m.embed_into(t, out)
embed_us = time.ticks_diff(time.ticks_us(), t0)
print("@@" + json.dumps({"thread": thr, "lock": m._guard[0] is not None, "texts": len(TEXTS), "tokens": tokens,
                         "embed_us": embed_us, "guard_us": (best["guarded"] - best["bare"]) / N,
                         "impl": m.impl["loop"]}))
"""


def twins() -> tuple[str, str]:
    """Model.embed_into's Python twin as written in device/m2v/model.py (_entry), and the same without the lock.

    A model's embed_into is the C core's Entry, which makes the same C call as this twin without a
    Python frame; the twin stands for it here so that the lock's cost is one argument apart. The C
    core's embed takes the model's lock itself when called with four arguments (stages 7, the
    default); the bare twin passes stages 3, everything but the lock (the cost of one more argument
    stays in the figure). Both twins are compiled on the board from this source, methods of the same
    class side by side, T, c and the model read from the model where the closure holds them.
    """
    src = (ROOT / "device" / "m2v" / "model.py").read_text()
    start = src.index("    def embed_into(text, out):")
    end = src.index("\n    return embed_into", start)
    body = [line[4:] for line in src[start:end].rstrip().splitlines()[1:]]
    guarded = "\n".join(["def guarded(self, text, out):", "    T, c, m = self.tok.T, self.tok.c, self", *body]) + "\n"
    call = "f(T, c, text, out)"
    assert guarded.count(call) == 1, guarded
    bare = guarded.replace("def guarded", "def bare").replace(call, call[:-1] + ", 3)")
    return guarded, bare


def prelude(texts: list[str], mode: str, rounds: int, nolock: bool) -> str:
    guarded, bare = twins()
    return (f"TEXTS = {texts!r}\nMODE = {mode!r}\nROUNDS = {rounds}\nNOLOCK = {int(nolock)}\n"
            f"GUARDED = {guarded!r}\nBARE = {bare!r}\n")  # fmt: skip


def measure(b: Board, texts: list[str], mode: str, rounds: int, nolock: bool) -> dict:
    """The snippet's figures on ``b``, with its instructions per tick (None off qemu)."""
    r = b.result(prelude(texts, mode, rounds, nolock) + SNIPPET, timeout=3600)
    r["ipt"] = b.instructions_per_tick()
    return r


def on_board(board: str, texts: list[str], mode: str, rounds: int) -> dict:
    with open_board(board, icount=True) as b:
        return measure(b, texts, mode, rounds, False)


def on_unix(texts: list[str], nolock: bool, rounds: int) -> dict:
    """The snippet on the unix port with the x64 C core, the model in a mounted ROMFS image."""
    with UnixBoard(heap="8M", native=True, rom={"model.m2v": MODEL}) as b:
        return measure(b, texts, "rom", rounds, nolock)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="cortex-m0", choices=list(emuboard.BOARDS))
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    a = ap.parse_args(argv)
    groups = bench.texts_by_group()
    rows: list[tuple[str, float]] = []
    print(f"m2v per-object lock on the emulated {a.board}: Model.embed_into with and without its guard,"
          " instructions")  # fmt: skip
    print(f"{'config':12} {'group':6} {'tok/txt':>7} {'embed/tok':>9} {'guard/tok':>9} {'share':>7} {'guard/call':>10}")
    for mode in ("rom", "file"):
        for name in ("real", "short"):
            r = on_board(a.board, groups[name], mode, 3)
            ipt, tok = r["ipt"], r["tokens"]
            e = r["embed_us"] * ipt / tok
            call = r["guard_us"] * ipt
            g = call * r["texts"] / tok
            cfg = f"{mode}/{r['impl']}"
            print(f"{cfg:12} {name:6} {tok / r['texts']:7.1f} {e:9.0f} {g:9.1f} {100 * g / e:6.2f}% {call:10.0f}"
                  f"  (_thread: {'yes' if r['thread'] else 'no'})")  # fmt: skip
            k = f"{name}.{mode}.lock"
            rows += [(f"{k}.instr_per_token", g), (f"{k}.share", g / e)]
    bench.append_rows(a.csv, f"qemu-{a.board}", rows)
    # unix: the _thread lock and the path without _thread, each against the bare twin
    lk, fl = on_unix(groups["short"], False, 20), on_unix(groups["short"], True, 20)
    ns_lk, ns_fl = 1000 * lk["guard_us"], 1000 * fl["guard_us"]
    per_embed = 1000 * lk["embed_us"] / lk["texts"]
    print(f"unix port (x64 C core, ROMFS, 'short' texts, {per_embed:.0f} ns per embed): guard {ns_lk:.0f} ns per"
          f" call with the _thread lock ({100 * ns_lk / per_embed:.1f}%), {ns_fl:.0f} ns without _thread"
          f" ({100 * ns_fl / per_embed:.1f}%); best of 20 rounds on a shared machine")  # fmt: skip
    bench.append_rows(a.csv, "unix-" + os.uname().machine, [("short.unix.lock.guard_ns_per_call", ns_lk),
                                                            ("short.unix.nolock.guard_ns_per_call", ns_fl)])
    return 0

