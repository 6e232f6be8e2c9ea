"""Demo: flash a board (a virtual one by default), embed sentences on it, print a similarity table.

    make demo                       # virtual board in build/vboard, started and stopped here
    make demo PORT=/dev/ttyACM0 ARCH=xtensawin   # a real board
    make demo BOARD=cortex-m0       # an emulated board (scripts/emuboard.py): package and model in its ROMFS
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import emuboard, flash, vboard

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = [
    "It will rain all afternoon, so take an umbrella.",
    "Sunny skies and a warm breeze are forecast for tomorrow.",
    "Simmer the tomato sauce with garlic for twenty minutes.",
    "Knead the dough and let it rest before baking the bread.",
    "The function returns a list of integers sorted in place.",
    "Fix the bug in the parser before merging the pull request.",
]

CODE = """
import sys, gc, time, json
for k in list(sys.modules):
    if k == 'm2v' or k.startswith('m2v.'):
        del sys.modules[k]
import m2v
m = m2v._model()
vs, r = [], []
for s in {texts!r}:
    gc.collect()
    b0 = gc.mem_alloc()
    t = time.ticks_us()
    v = m.embed(s)
    r.append([time.ticks_diff(time.ticks_us(), t), gc.mem_alloc() - b0])
    vs.append(v)
sim = [[m2v.similarity(a, b) for b in vs] for a in vs]
gc.collect()
print('@@' + json.dumps({{'r': r, 'sim': sim, 'free': gc.mem_free(), 'alloc': gc.mem_alloc()}}))
"""


def run(port: str, model: Path, arch: str | None, mode: str, flashed: bool = False) -> None:
    if flashed:  # an emulated board: the package and the model came in its ROMFS image
        flash.smoke(port, model)
    else:
        flash.flash(port, model, arch, mode)
    res = flash.board_json(port, CODE.format(texts=SENTENCES))
    print()
    for i, (s, (us, heap)) in enumerate(zip(SENTENCES, res["r"], strict=True)):
        print(f"[{i}] {us / 1000:6.1f} ms {heap:6d} B  {s}")
    print("\ncosine similarity (m2v.similarity / 2**28), computed on the board:")
    print("     " + "".join(f"{j:>6}" for j in range(len(SENTENCES))))
    for i, row in enumerate(res["sim"]):
        print(f"[{i}]  " + "".join(f"{x / 2**28:6.2f}" for x in row))
    print(f"\nheap after: {res['alloc']} B used, {res['free']} B free")
    if flashed:
        print("(times on an emulated board are the emulator's: `make bench BOARD=...` counts instructions)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="m2v demo on a (virtual) board")
    ap.add_argument("--port", default="", help="use this board; default: start a virtual board")
    ap.add_argument("--dir", default=str(ROOT / "build" / "vboard"), type=Path, help="virtual board directory")
    ap.add_argument("--heap", default="256K")
    ap.add_argument("--model", default=str(flash.MODEL), type=Path)
    ap.add_argument("--arch", default=None)
    ap.add_argument("--mode", default="fs", choices=["fs", "romfs"])
    ap.add_argument("--board", default="", help="an emulated board: " + ", ".join(emuboard.BOARDS))
    a = ap.parse_args(argv)
    started = False
    emu = None
    try:
        port = a.port
        if a.board:
            emu = emuboard.start_for_mpremote(a.board)
            port = emu.port
            print(f"emulated {a.board}: {port} (MicroPython 1.28.0 on qemu, {emu.heap} B heap, model in /rom)")
            if a.model.resolve() != flash.MODEL.resolve():
                raise SystemExit("--board runs the default model (its ROMFS image); flash others to a real board")
        elif not port:
            vboard.stop(a.dir)  # a stale board from an earlier run
            port = vboard.start(a.dir, a.heap)
            started = True
            print(f"virtual board: {port} (root {a.dir.resolve()}, heap {a.heap})")
        run(port, a.model, a.arch, a.mode, flashed=emu is not None)
    except (flash.FlashError, emuboard.ToolsMissing, emuboard.BoardError, SystemExit, OSError) as e:
        print(f"demo: failed: {e}", file=sys.stderr)
        return 1
    finally:
        if emu:
            emu.close()
        if started:
            vboard.stop(a.dir)
            print("virtual board stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
