"""Prediction latency and heap of m2v.Classifier on the unix MicroPython (the smart-home classifier).

    m2v bench --suite classifier [--py] [--suite-args '--queries 78']
    make bench-classifier

The classifier is trained from examples/smart_home/intents.jsonl (13 classes,
rejection on); queries are the held-out phrasings. Each configuration runs in
a fresh interpreter with the precompiled package (.mpy, x64): buffer mode
reads the classifier in place from a mounted ROMFS image (as /rom on a
board), file mode streams its weights through a 1 KiB buffer. Printed per
configuration: microseconds per prediction for a vector input (the
classifier alone, on top of the embed) and for a text (embed + classify),
median over the queries, and the embed alone; the heap the open classifier
keeps (gc.mem_alloc after open minus before) and the heap one prediction
allocates (no collection in between); and the file size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

from host_tools import classifier as hc
from host_tools import index as hindex
from host_tools import reference

from .bench_index import mpy_package, run
from .board import ROOT

MODEL = ROOT / "firmware_assets" / "model.m2v"
EX = ROOT / "examples" / "smart_home"

BOARD = r"""
import gc, time, json
mode, impl = {mode!r}, {impl!r}
if mode == "buf":
    import vfs
    with open({image!r}, "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    del image
import m2v
m2v.use(impl)
model = m2v.load({model!r}, mode="file")
qs = json.loads(open({queries!r}).read())
vec = [model.embed(q) for q in qs]
src = "/rom/clf.m2vc" if mode == "buf" else {clf!r}
clf = m2v.Classifier(src, model=model, mode=mode)
gc.collect()
a1 = gc.mem_alloc()
clf.close()
clf = None
gc.collect()
kept = a1 - gc.mem_alloc()  # what an open classifier keeps on the heap
clf = m2v.Classifier(src, model=model, mode=mode)
out = model.embed("warm up")
n = len(qs)
tv, tt, te, alloc = [0] * n, [0] * n, [0] * n, 0
for i in range(n):
    gc.collect()
    a = gc.mem_alloc()
    clf.predict(vec[i])
    alloc = max(alloc, gc.mem_alloc() - a)
    t = time.ticks_us()
    clf.predict(vec[i])
    tv[i] = time.ticks_diff(time.ticks_us(), t)
    t = time.ticks_us()
    clf.predict(qs[i])
    tt[i] = time.ticks_diff(time.ticks_us(), t)
    t = time.ticks_us()
    model.embed_into(qs[i], out)
    te[i] = time.ticks_diff(time.ticks_us(), t)
for x in (tv, tt, te):
    x.sort()
print("@@" + json.dumps([tv[len(tv) // 2], tt[len(tt) // 2], te[len(te) // 2], kept, alloc]))
"""


def main(argv: list[str] | None = None) -> int:
    """Build the smart-home classifier, time it on the unix port, print the table."""
    ap = argparse.ArgumentParser(description="m2v.Classifier latency and heap on the unix port")
    ap.add_argument("--queries", type=int, default=78)
    ap.add_argument("--py", action="store_true", help="also time the pure-Python scan")
    a = ap.parse_args(argv)
    ref = reference.load(MODEL)
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    queries = [t for _, t in hindex.read_items(EX / "heldout.jsonl", need_label=True)][: a.queries]
    impls = ["native", "py"] if a.py else ["native"]
    cols = f"{'mode':5} {'scan':6} {'vector us':>10} {'text us':>8} {'embed us':>9} {'kept B':>7} {'predict B':>10}"
    print(cols + f" {'file B':>7}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        pkg = mpy_package(d / "pkg")
        (d / "q.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
        path = d / "clf.m2vc"
        path.write_bytes(hc.train(ref, items, reject=0.1))
        rom = d / "rom"
        rom.mkdir()
        shutil.copy(path, rom / "clf.m2vc")
        from mpremote.romfs import make_romfs

        with contextlib.redirect_stdout(io.StringIO()):
            (d / "img").write_bytes(make_romfs(str(rom), mpy_cross=False))
        for mode in ("buf", "file"):
            for impl in impls:
                code = BOARD.format(mode=mode, impl=impl, image=str(d / "img"), model=str(MODEL),
                                    queries=str(d / "q.json"), clf=str(path))  # fmt: skip
                tv, tt, te, kept, alloc = run(code, "1M", pkg)
                size = path.stat().st_size
                print(f"{mode:5} {impl:6} {tv:10,d} {tt:8,d} {te:9,d} {kept:7,d} {alloc:10,d} {size:7,d}")
    return 0

