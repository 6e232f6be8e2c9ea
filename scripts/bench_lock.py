"""The cost of the per-object lock (m2v/model.py) that every public call of a Model, an Index and a Classifier takes.

    python scripts/bench_lock.py [--board cortex-m0] [--csv benchmarks/results.csv]
    make bench-lock

On the emulated board (qemu ``-icount shift=0``: instructions, calibrated as scripts/bench_board.py
does), ROMFS mode with the C core (the fastest embed, so the largest share for a per-call cost) and
file mode, the bench's real and short texts: ``Model.embed_into``'s instructions per token, and its
guard (the code written out there, around an empty body, against the empty body, 2,000 calls):
instructions per call and per token, and their share of the embed; also ``enter()`` + ``leave()``
called as functions (``Model.tokenize``, the Index and the Classifier) per call. The qemu firmware
has no ``_thread``: the guard's path there is the owner field of a port without threads. On the unix
port (its ``_thread`` has no GIL), nanoseconds per call of the guard with the ``_thread`` lock and
without it, side by side, next to a short text's embed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import bench  # noqa: E402
import emuboard  # noqa: E402
from mpy import micropython, native_device  # noqa: E402

log = logging.getLogger("bench_lock")

# TEXTS, MODE ("rom" or "file"), ROUNDS, NOLOCK are prepended.
SNIPPET = r"""
import gc, time, json
import m2v, m2v.model as L
try:
    import _thread
    thr = 1
except ImportError:
    thr = 0
if NOLOCK:
    L.allocate_lock = None  # the path of a port without _thread
from m2v.model import get_ident, take
m = m2v.load("/rom/model.m2v") if MODE == "rom" else m2v.load("/rom/model.m2v", mode="file", ram=0)
out = m.embed("warm up")
tokens = 0
for t in TEXTS:
    tokens += len(m.tokenize(t))


class G:
    # Model.embed_into's guard as written there, around an empty body; bare: the empty body alone
    def __init__(self):
        self._guard = L.guard()

    def guarded(self, text, out):
        g = self._guard
        lk = g[0]
        if lk:
            if not lk.acquire(0):
                take(g, 0)
            elif g[1]:
                take(g, 1)
            g[1] = get_ident()
        elif g[1]:
            take(g, 1)
        else:
            g[1] = 1
        try:
            return out
        finally:
            g[1] = 0
            if lk:
                lk.release()

    def functions(self, text, out):
        # enter() and leave() called (Model.tokenize, the Index and the Classifier)
        L.enter(self._guard)
        try:
            return out
        finally:
            L.leave(self._guard)

    def bare(self, text, out):
        return out


def run(f, texts, n=1):
    best = None
    for _ in range(ROUNDS):
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            for t in texts:
                f(t, out)
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best is None or dt < best:
            best = dt
    return best


g = G()
N = 2000
one = TEXTS[:1]
print("@@" + json.dumps({"thread": thr, "lock": m._guard[0] is not None, "texts": len(TEXTS), "tokens": tokens,
                         "embed_us": run(m.embed_into, TEXTS), "guard_n": N,
                         "guard_us": run(g.guarded, one, N) - run(g.bare, one, N),
                         "functions_us": run(g.functions, one, N) - run(g.bare, one, N),
                         "impl": m.impl["loop"]}))
"""


def prelude(texts: list[str], mode: str, rounds: int, nolock: bool) -> str:
    return f"TEXTS = {texts!r}\nMODE = {mode!r}\nROUNDS = {rounds}\nNOLOCK = {int(nolock)}\n"


def on_board(board: str, texts: list[str], mode: str, rounds: int) -> dict:
    image = emuboard.default_image(emuboard.BOARDS[board].arch)
    with emuboard.Board(board, image, icount=True) as b:
        ipt = b.instructions_per_tick()
        out = b.exec(prelude(texts, mode, rounds, False) + SNIPPET, timeout=3600)
    r = json.loads(next(line[2:] for line in out.splitlines() if line.startswith("@@")))
    r["ipt"] = ipt
    return r


def on_unix(texts: list[str], nolock: bool, rounds: int) -> dict:
    """The snippet on the unix port with the x64 C core, the model in a mounted ROMFS image."""
    from mpy import MODEL, romfs_image

    with tempfile.TemporaryDirectory() as d:
        dev = native_device(Path(d) / "dev")
        img = romfs_image(MODEL, Path(d) / "model.romfs")
        pre = (f"import sys, vfs\nsys.path.insert(0, {str(dev)!r})\n"
               f"vfs.mount(vfs.VfsRom(open({str(img)!r}, 'rb').read()), '/rom')\n")  # fmt: skip
        code = Path(d) / "b.py"
        code.write_text(pre + prelude(texts, "rom", rounds, nolock) + SNIPPET)
        p = subprocess.run([micropython(), "-X", "heapsize=8M", str(code)], capture_output=True, text=True, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise RuntimeError(p.stdout[-2000:] + p.stderr[-2000:])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="cortex-m0", choices=list(emuboard.BOARDS))
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    a = ap.parse_args(argv)
    groups = bench.texts_by_group()
    rows: list[tuple[str, float]] = []
    print(f"m2v per-object lock on the emulated {a.board}: instructions")
    print(f"{'config':12} {'group':6} {'tok/txt':>7} {'embed/tok':>9} {'guard/call':>10} {'guard/tok':>9} {'share':>7}"
          f" {'enter+leave/call':>16}")  # fmt: skip
    for mode in ("rom", "file"):
        for name in ("real", "short"):
            r = on_board(a.board, groups[name], mode, 3)
            ipt, tok, n = r["ipt"], r["tokens"], r["guard_n"]
            e = r["embed_us"] * ipt / tok
            call = r["guard_us"] * ipt / n
            g = call * r["texts"] / tok
            fn = r["functions_us"] * ipt / n
            cfg = f"{mode}/{r['impl']}"
            print(f"{cfg:12} {name:6} {tok / r['texts']:7.1f} {e:9.0f} {call:10.0f} {g:9.1f} {100 * g / e:6.2f}%"
                  f" {fn:16.0f}  (_thread: {'yes' if r['thread'] else 'no'})")  # fmt: skip
            k = f"{name}.{mode}.lock"
            rows += [(f"{k}.instr_per_token", g), (f"{k}.share", g / e), (f"{k}.guard_instr_per_call", call)]
    bench.append_rows(a.csv, f"qemu-{a.board}", rows)
    # unix: the _thread lock and the path without _thread side by side, in one process each
    lk, fl = on_unix(groups["short"], False, 5), on_unix(groups["short"], True, 5)
    n = lk["guard_n"]
    per_embed = lk["embed_us"] / lk["texts"]
    ns_lk, ns_fl = 1000 * lk["guard_us"] / n, 1000 * fl["guard_us"] / n
    print(f"unix port (x64 C core, ROMFS, 'short' texts: {1000 * per_embed:.0f} ns per embed): guard per call"
          f" {ns_lk:.0f} ns with the _thread lock, {ns_fl:.0f} ns without _thread (ratio {ns_lk / max(ns_fl, 1):.2f});"
          f" the lock is {100 * ns_lk / (1000 * per_embed):.1f}% of a short text's embed")  # fmt: skip
    bench.append_rows(a.csv, "unix-" + os.uname().machine, [("short.unix.lock.guard_ns_per_call", ns_lk),
                                                            ("short.unix.nolock.guard_ns_per_call", ns_fl)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
