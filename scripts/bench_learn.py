"""Learning on the board: instructions (emulated boards) or microseconds (unix port) per add and per search.

    m2v bench --suite learn [--board cortex-m0|cortex-m7|rv32imc|xtensa-lx7] [--suite-args '--adds 300']
    make bench BOARD=cortex-m0      (after the embedding figures)

A version 2 index of 65 smart-home phrasings (built on the host, ``--grow``) grows on the board by
``--adds`` entries (int16 vectors, then texts); printed: instructions (qemu ``-icount shift=0``,
calibrated as scripts/bench_board.py does) or µs (unix port) per add of a vector, per add of a
text (embed included), per search (vector query, k = 5) and per class-means prediction at several
sizes, with the heap an add allocates (``gc.mem_alloc`` after minus before, no collection between)
and keeps. The qemu boards have no writable filesystem: the index grows in a RAM copy behind the
file methods (tests/device/learn.py's RamFile), so flash write and sync times are not in the figures.
"""

from __future__ import annotations

import argparse
import json
import logging

from host_tools import index as hindex
from host_tools import reference

from . import emuboard
from .board import ROOT, open_board

log = logging.getLogger("bench_learn")
MODEL = ROOT / "firmware_assets" / "model.m2v"
EX = ROOT / "examples" / "smart_home"
PROGRAM = ROOT / "tests" / "device" / "learn.py"

SNIPPET = r"""
import gc, json, time
import m2v, m2v.classmeans as cm
model = m2v.load(ROOT + "/model.m2v")
texts = json.load(open(ROOT + "/texts.json"))
with open(ROOT + "/grow.m2vi", "rb") as f:
    data = f.read()
idx = m2v.Index(RamFile(data, 300 * (max(SIZES) + 2)) if RAM else WORK, model=model, mode="file")
del data
v = model.embed(texts[0])
q = model.embed(texts[1])
idx.add(v, "warm up")
res = {"search": [], "add_vec": [], "add_text": [], "heap": []}
def timed(f):
    gc.collect()
    a = gc.mem_alloc()
    t = time.ticks_us()
    f()
    dt = time.ticks_diff(time.ticks_us(), t)
    used = gc.mem_alloc() - a
    gc.collect()
    return dt, used, gc.mem_alloc() - a
done = 0
for target in SIZES:
    res["search"].append([len(idx), timed(lambda: idx.search(q, 5))[0]])
    while done < target:
        i = done
        if i % 10 == 0:
            r = timed(lambda: idx.add(texts[i % len(texts)], "t"))
            res["add_text"].append(r[0])
            res["heap"].append(["text", r[1], r[2]])
        else:
            r = timed(lambda: idx.add(v, "v"))
            res["add_vec"].append(r[0])
            res["heap"].append(["vector", r[1], r[2]])
        done += 1
res["search"].append([len(idx), timed(lambda: idx.search(q, 5))[0]])
idx.close()
clf = m2v.ClassMeans(RamFile(cm.create(None, model, 0.5), 300 * 40), model=model, mode="file")
for i in range(39):
    clf.learn(texts[i], "c%d" % (i % 13))
res["predict"] = timed(lambda: clf.predict(q))[0]
print("@@" + json.dumps(res))
"""


def ram_file_source() -> str:
    """The RamFile class of tests/device/learn.py (one definition), for the snippet."""
    src = PROGRAM.read_text()
    start = src.index("class RamFile:")
    return src[start : src.index("\ndef _root", start)]


def main(argv: list[str] | None = None) -> int:
    """Run on one board (or the unix port) and print the figures."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="cortex-m0", choices=[*emuboard.BOARDS, "unix"])
    ap.add_argument("--adds", type=int, default=150)
    a = ap.parse_args(argv)
    ref = reference.load(MODEL)
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    base = hindex.build_index(ref, items[::5], grow=True)
    texts = [t for _, t in items]
    sizes = sorted({a.adds // 3, a.adds})
    files = {"grow.m2vi": base, "texts.json": json.dumps(texts, ensure_ascii=False).encode()}
    if a.board == "unix":
        files["work.m2vi"] = base  # the copy that grows (the unix port writes files; the qemu boards do not)
    with open_board(a.board, files, heap="1M" if a.board == "unix" else None, icount=True) as b:
        ipt = b.instructions_per_tick()
        unit = "instructions" if ipt else "µs"
        # a writable root: the index grows in its file; else in a RAM copy behind the file methods
        pre = f"ROOT = {b.root!r}\nRAM = {not b.writable}\nSIZES = {sizes!r}\n"
        if b.writable:
            pre += f"WORK = {b.root + '/work.m2vi'!r}\n"
        out = b.exec(ram_file_source() + pre + SNIPPET, timeout=3600)
        ipt = ipt or 1.0
    found = [json.loads(ln[2:]) for ln in out.splitlines() if ln.startswith("@@")]
    if not found:
        raise SystemExit(f"bench_learn: no result:\n{out[-2000:]}")
    r = found[0]

    def med(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[len(xs) // 2]

    where = "the unix port" if a.board == "unix" else f"the emulated {a.board} (RP2040-class heap, RAM file)"
    print(f"m2v learning on {where}, {unit} (median)")
    print(f"  add a vector      {med(r['add_vec']) * ipt:12,.0f}   ({len(r['add_vec'])} adds)")
    print(f"  add a text        {med(r['add_text']) * ipt:12,.0f}   ({len(r['add_text'])} adds, embed included)")
    for n, t in r["search"]:
        print(f"  search, {n:5d} entries {t * ipt:12,.0f}")
    print(f"  class-means predict, 39 examples of 13 classes {r['predict'] * ipt:12,.0f}")
    for kind in ("vector", "text"):
        hs = [h for h in r["heap"] if h[0] == kind]
        print(f"  heap per add of a {kind}: at most {max(h[1] for h in hs)} B allocated, "
              f"at most {max(h[2] for h in hs)} B kept")  # fmt: skip
    return 0

