"""Speed and heap of the device package, side by side with model2vec on CPython.

    m2v bench --suite embed [--model M] [--port PORT]      (python -m host_tools bench)
    make bench [PORT=/dev/ttyACM0]

On the unix MicroPython (the virtual board's interpreter, .venv/bin/micropython)
the default model is loaded in ROMFS mode (an image built with
mpremote.romfs.make_romfs, mounted with vfs.VfsRom, read in place), in
file mode (streamed through the 512-byte page cache) and in file mode with
ram=RAM (the tokenizer's tables in RAM, records and centroid rows streamed),
in file mode with the default ram=None ("file+auto": what the heap spares),
each with the C core and the pure-Python twins; then the C core's
ROMFS and file modes (ram=0, ram=CACHE_RAM, ram=RAM) run once more in one
process with their rounds interleaved, for the file/ROMFS ratios. With --port the same snippet runs on a board over
`mpremote connect PORT resume exec` (the package and model flashed with
scripts/flash.py; the board's default model).

Texts are real sentences of 20-200 characters from tests/corpus (en-Latn
rows), each embedded once per round; "short" are those of about 10 tokens,
"medium" (about 60) and "long" (about 500) join consecutive rows. For every
group: microseconds per embed, split into tokenizing (the embed with the
pooling calls swapped for no-ops) and pooling (the rest: acc_recs and
normalize_into), tokens per second, gc.mem_alloc delta per embed; then load
time, load heap, and the binary's size by section. model2vec
(StaticModel.encode of one text) and the CPython reference
(host_tools.reference) are timed in the same run, before and after the
MicroPython runs; every figure is the best of the rounds, so ratios are
between figures measured side by side on the same, possibly busy, machine.

Figures go to stdout, and one CSV row per figure (timestamp, machine,
metric, value) is appended to benchmarks/results.csv.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import platform
import random
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from host_tools import binfmt as bf
from host_tools import reference

from .board import DEVICE, MODEL, ROOT, SerialBoard, UnixBoard, romfs_image

CORPUS = ROOT / "tests" / "corpus" / "multilingual.jsonl"
MODEL_DIR = ROOT / "firmware_assets" / "potion-minilm-micro"
ROUNDS = 3
RAM = 128 * 1024  # the file+ram configs: heap the model may use (its tokenizer tables, then a page cache)
CACHE_RAM = 32 * 1024  # file+cache: a budget below the tables' size, all of it page cache

# Runs on MicroPython: TEXTS, MODE, SRC, IMPL, ROUNDS, RAM (the load's ram=: RAM for
# "file+ram", else 0; "file" and "file+ram" both stream the model) are prepended. Prints one JSON line.
SNIPPET = r"""
import gc, time, json
import m2v, m2v.tok as tok
if MODE == "rom" and SRC:
    import vfs
    with open(SRC, "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")  # the image stands for flash: not heap on a board
gc.collect()
a0 = gc.mem_alloc()
if hasattr(m2v, "use"):
    m2v.use(IMPL)  # before the load (the C core it imports is in the load's heap, as before)
t0 = time.ticks_us()
if MODE == "rom" and SRC:
    m = m2v.load("/rom/model.m2v")
elif SRC:
    m = m2v.load(SRC, mode="file", ram=RAM)
else:
    m = m2v.load()
load_us = time.ticks_diff(time.ticks_us(), t0)
gc.collect()
load_heap = gc.mem_alloc() - a0
m.close()  # one model at a time: a board's heap may not hold two with their tables in RAM
m = None
gc.collect()
t0 = time.ticks_us()
if SRC:
    m = m2v.load("/rom/model.m2v" if MODE == "rom" else SRC, check_crc=False, mode="buf" if MODE == "rom" else "file",
             ram=RAM)
else:
    m = m2v.load(check_crc=False)
load_nocrc_us = time.ticks_diff(time.ticks_us(), t0)
gc.collect()
held = gc.mem_alloc() - a0


free_after = gc.mem_free()
out = m.embed("warm up")
res = {"load_us": load_us, "load_nocrc_us": load_nocrc_us, "load_heap": load_heap, "held": held,
       "free": free_after, "cache": getattr(m, "cache_bytes", 0),
       "ram_tables": getattr(m, "ram_tables", 0), "accel": getattr(m.tok, "accel", 0), "groups": {}}
noop = lambda *a: None
wpf = tok.pool if getattr(m, "cache", None) and tok.fast else None  # file mode pools a batch through acc_recs_f


def timed(texts, stub):
    # total microseconds to embed every text once; stub: pooling swapped for
    # no-ops (in file mode also the record and centroid-row reads); with the native
    # core's whole-embed call (tok.fast, buffer models), stub times its tokenizer alone
    f = getattr(tok, "fast", None)
    if stub and f:
        T, c = m.tok.T, m.tok.c
        t0 = time.ticks_us()
        for t in texts:
            f(T, c, t, out, 1)
        return time.ticks_diff(time.ticks_us(), t0)
    P = tok.pool  # the module whose loops run
    saved = getattr(P, "acc_recs", None), P.acc_row, P.normalize_into
    saved_f = wpf and wpf.acc_recs_f
    if stub:
        P.acc_row = P.normalize_into = noop
        if wpf:
            wpf.acc_recs_f = noop  # file mode pools a batch through it
        else:
            P.acc_recs = noop
    t0 = time.ticks_us()
    for t in texts:
        m.embed_into(t, out)
    dt = time.ticks_diff(time.ticks_us(), t0)
    P.acc_recs, P.acc_row, P.normalize_into = saved
    if wpf:
        wpf.acc_recs_f = saved_f
    return dt


for name in TEXTS:
    texts = TEXTS[name]
    ntok = 0
    heap = 0
    for t in texts:
        ntok += len(m.tokenize(t))
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        m.embed_into(t, out)
        heap = max(heap, gc.mem_alloc() - a)
        gc.enable()
    gc.collect()
    best = None
    for r in range(ROUNDS):
        e = timed(texts, False)
        s = timed(texts, True)
        if best is None or e + s < best[0] + best[1]:
            best = (e, s)
    n = len(texts)
    res["groups"][name] = {"n": n, "tokens": ntok, "embed_us": best[0] / n, "tok_us": best[1] / n,
                           "pool_us": (best[0] - best[1]) / n, "alloc_per_embed": heap}
print("@@" + json.dumps(res))
"""


def multilingual_groups(n: int = 24, seed: int = 19) -> dict[str, list[str]]:
    """Texts of tests/corpus/multilingual.jsonl by script: ``ascii`` (its pure-ASCII texts, Latin-script
    languages), ``nonascii`` (the others, drawn in turn from each script: Cyrillic, Arabic, Devanagari,
    CJK, Hangul, Thai, ... and accented Latin) and ``fuzz`` (tests/truth.py's seeded texts of rare
    scripts, symbols and special tokens); n texts of 20-200 characters each (fuzz: any length)."""
    from tests.truth import fuzz_texts

    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    rows = [r for r in rows if 20 <= len(r["text"]) <= 200]
    rng = random.Random(seed)
    asc = [r["text"] for r in rows if r["text"].isascii()]
    rng.shuffle(asc)
    by_script: dict[str, list[str]] = {}
    for r in rows:
        if not r["text"].isascii():
            by_script.setdefault(r["lang"].rsplit("-", 1)[-1], []).append(r["text"])
    scripts = sorted(by_script)
    for s in scripts:
        rng.shuffle(by_script[s])
    non: list[str] = []
    i = 0
    while len(non) < n:
        s, k = scripts[i % len(scripts)], i // len(scripts)
        if k < len(by_script[s]):
            non.append(by_script[s][k])
        i += 1
    return {"ascii": asc[:n], "nonascii": non, "fuzz": fuzz_texts(n, seed)}


def texts_by_group() -> dict[str, list[str]]:
    """Real English sentences, grouped by token count (host tokenizer, as the device counts)."""
    from tests.truth import Truth

    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    en = [r["text"] for r in rows if r["lang"] == "en-Latn" and 20 <= len(r["text"]) <= 200]
    truth = Truth()
    ntok = [len(x) for x in truth.ids(en)]
    short = [t for t, n in zip(en, ntok) if 7 <= n <= 14]

    def joined(target: int, count: int, start: int) -> list[str]:
        out, cur, n = [], [], 0
        i = start
        while len(out) < count:
            t = en[i % len(en)]
            cur.append(t)
            n += ntok[i % len(en)]
            i += 1
            if n >= target:
                out.append(" ".join(cur))
                cur, n = [], 0
        return out

    return {"real": en, "short": short, "medium": joined(60, 12, 0), "long": joined(500, 3, 40)}


# Runs on the unix port: TEXTS, SRC (the ROMFS image), MODEL, RAM, CACHE_RAM,
# ROUNDS are prepended. The modes in one process (the x64 build of the package: the
# C core), their rounds
# interleaved (ROMFS, file, file with ram=CACHE_RAM (a larger page cache),
# file with ram=RAM (the tokenizer's tables in RAM), ROMFS, ...), so that the
# machine's load weighs on all alike; prints the best microseconds per text.
SIDE_BY_SIDE = r"""
import gc, time, json, vfs
import m2v
with open(SRC, "rb") as f:
    image = f.read()
vfs.mount(vfs.VfsRom(image), "/rom")
models = {"rom": m2v.load("/rom/model.m2v"), "file": m2v.load(MODEL, mode="file", ram=0),
          "file+cache": m2v.load(MODEL, mode="file", ram=CACHE_RAM), "file+ram": m2v.load(MODEL, mode="file", ram=RAM),
          "file+auto": m2v.load(MODEL)}  # the default: file mode, ram=None
out = models["rom"].embed("warm up")
res = {}
for name in TEXTS:
    texts = TEXTS[name]
    best = {}
    for r in range(ROUNDS):
        for mode in models:
            m = models[mode]
            gc.collect()
            t0 = time.ticks_us()
            for t in texts:
                m.embed_into(t, out)
            dt = time.ticks_diff(time.ticks_us(), t0) / len(texts)
            best[mode] = min(best.get(mode, dt), dt)
    res[name] = best
print("@@" + json.dumps(res))
"""


def run_mpy(prelude: str, port: str | None, timeout: float = 1800, snippet: str = SNIPPET,
            device: Path = DEVICE) -> dict:
    """Run a snippet on the board at ``port``, or on the unix port with the package folder ``device``."""
    with SerialBoard(port) if port else UnixBoard(heap="8M", device=device) as b:
        return b.result(prelude + snippet, timeout)


def cpython(groups: dict[str, list[str]], model: Path) -> dict[str, dict[str, float]]:
    """Per-text microseconds of model2vec encode() and of the reference embed(), best of ROUNDS."""
    from model2vec import StaticModel

    with contextlib.redirect_stderr(io.StringIO()):
        sm = StaticModel.from_pretrained(str(MODEL_DIR))
    ref = reference.load(model)
    sm.encode(["warm up"])
    ref.embed("warm up")
    out = {}
    for name, texts in groups.items():
        best_m = best_r = float("inf")
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for t in texts:
                sm.encode([t])
            t1 = time.perf_counter()
            for t in texts:
                ref.embed(t)
            t2 = time.perf_counter()
            best_m = min(best_m, (t1 - t0) / len(texts) * 1e6)
            best_r = min(best_r, (t2 - t1) / len(texts) * 1e6)
        out[name] = {"model2vec_us": best_m, "reference_us": best_r}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--port", help="run on this board (mpremote) instead of the unix port")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    a = ap.parse_args(argv)

    groups = {**texts_by_group(), **multilingual_groups()}
    if a.port:
        # a board's heap: fewer texts, no long group beyond one text
        groups = {"real": groups["real"][:20], "short": groups["short"][:10], "medium": groups["medium"][:4],
                  "long": groups["long"][:1]}
    rows: list[tuple[str, float]] = []
    machine = a.port or f"unix-{platform.machine()}"

    cp1 = cpython(groups, a.model)
    mp = {}
    with tempfile.TemporaryDirectory() as d:
        image = Path(d) / "image.romfs"
        image.write_bytes(romfs_image({"model.m2v": a.model}))
        configs = [("board", "py"), ("board", "native")] if a.port else [
            ("rom", "native"), ("rom", "py"), ("file", "native"), ("file", "py"), ("file+ram", "native"),
            ("file+ram", "py"), ("file+auto", "native")]  # fmt: skip
        # the native kind: the package as the unix port's build carries it (the committed x64 C core)
        native = Path(d) / "native"
        shutil.copytree(DEVICE / "m2v", native / "m2v")
        shutil.copy(ROOT / "firmware_assets" / "native" / "x64" / "_native.mpy", native / "m2v" / "_native.mpy")
        for mode, impl in configs:
            src = "" if a.port else (str(image) if mode == "rom" else str(a.model))
            ram = {"file+ram": RAM, "file+auto": None}.get(mode, 0)  # the load's ram=
            prelude = (f"TEXTS = {json.dumps(groups)}\nMODE = {mode!r}\nSRC = {src!r}\nIMPL = {impl!r}\n"
                       f"ROUNDS = {ROUNDS}\nRAM = {ram}\n")
            mp[(mode, impl)] = run_mpy(prelude, a.port, device=native if impl == "native" else DEVICE)
        side = None
        if not a.port:
            prelude = (f"TEXTS = {json.dumps(groups)}\nSRC = {str(image)!r}\nMODEL = {str(a.model)!r}\n"
                       f"RAM = {RAM}\nCACHE_RAM = {CACHE_RAM}\nROUNDS = {2 * ROUNDS + 1}\n")
            side = run_mpy(prelude, None, snippet=SIDE_BY_SIDE, device=native)
    cp2 = cpython(groups, a.model)
    cp = {g: {k: min(cp1[g][k], cp2[g][k]) for k in cp1[g]} for g in groups}

    print(f"m2v bench on {machine}, model {a.model.name}; microseconds per text (best of {ROUNDS} rounds)")
    hdr = f"{'group':7} {'n':>3} {'tok/txt':>7} {'config':11} {'embed':>8} {'tokenize':>9} {'pool':>7} " \
          f"{'pool/tok':>8} {'tok/s':>8} {'alloc B':>7} {'vs m2v':>7}"
    print(hdr)
    for name in groups:
        c = cp[name]
        for (mode, impl), r in mp.items():
            g = r["groups"][name]
            tpt = g["tokens"] / g["n"]
            ratio = g["embed_us"] / c["model2vec_us"]
            tps = g["tokens"] / (g["tok_us"] * g["n"]) * 1e6 if g["tok_us"] > 0 else 0
            cfg = f"{mode}/{impl}"
            print(f"{name:7} {g['n']:3} {tpt:7.1f} {cfg:11} {g['embed_us']:8.0f} {g['tok_us']:9.0f} "
                  f"{g['pool_us']:7.0f} {g['pool_us'] / max(tpt, 1e-9):8.2f} {tps:8.0f} {g['alloc_per_embed']:7d} "
                  f"{ratio:6.2f}x")
            p = f"{name}.{cfg}."
            rows += [(p + "embed_us", g["embed_us"]), (p + "tokenize_us", g["tok_us"]), (p + "pool_us", g["pool_us"]),
                     (p + "pool_us_per_token", g["pool_us"] / max(tpt, 1e-9)), (p + "tokens_per_s", tps),
                     (p + "alloc_bytes_per_embed", g["alloc_per_embed"]), (p + "ratio_vs_model2vec", ratio),
                     (p + "tokens_per_text", tpt)]
        print(f"{name:7} {'':3} {'':7} {'model2vec':11} {c['model2vec_us']:8.0f}   (CPython, encode one text)")
        print(f"{name:7} {'':3} {'':7} {'reference':11} {c['reference_us']:8.0f}   (CPython, host_tools.reference)")
        rows += [(f"{name}.cpython.model2vec_us", c["model2vec_us"]),
                 (f"{name}.cpython.reference_us", c["reference_us"])]
    if side:
        print(f"file mode vs ROMFS mode, the x64 build's default kinds (the C core), rounds interleaved in one "
              f"process (best of {2 * ROUNDS + 1}); file: ram=0 (512 B page cache); file+cache: ram={CACHE_RAM} "
              f"(a larger page cache); file+ram: ram={RAM} ({mp[('file+ram', 'native')]['ram_tables']} B of "
              f"tokenizer tables in RAM, the rest a page cache); file+auto: m2v.load(path), the default ram=None")
        for name in groups:
            b = side[name]
            line = f"{name:7} ROMFS {b['rom']:7.0f} us"
            for mode in ("file", "file+cache", "file+ram", "file+auto"):
                r = b[mode] / b["rom"]
                line += f"   {mode} {b[mode]:7.0f} us = {r:5.2f}x"
                rows += [(f"{name}.side.{mode}_us", b[mode]), (f"{name}.{mode}_over_rom", r)]
            m2 = b["file+auto"] / cp[name]["model2vec_us"]
            line += f"   file+auto vs model2vec {m2:4.2f}x"
            rows += [(f"{name}.side.rom_us", b["rom"]), (f"{name}.side.file_auto_over_model2vec", m2)]
            print(line)
    for (mode, impl), r in mp.items():
        print(f"load {mode}/{impl}: {r['load_us'] / 1000:.1f} ms with CRC, {r['load_nocrc_us'] / 1000:.1f} ms without; "
              f"heap after load {r['load_heap']} B")
        rows += [(f"load.{mode}/{impl}.load_us", r["load_us"]),
                 (f"load.{mode}/{impl}.load_nocrc_us", r["load_nocrc_us"]),
                 (f"load.{mode}/{impl}.heap_bytes", r["load_heap"])]
    data = a.model.read_bytes()
    _, secs = bf.check(data)
    print(f"binary {a.model.name}: {len(data)} bytes")
    for sid in sorted(secs):
        size = secs[sid][1]
        print(f"  {bf.SECTION_NAMES[sid]:10} {size:8}")
        rows.append((f"size.{bf.SECTION_NAMES[sid]}", size))
    rows.append(("size.total", len(data)))
    pkg = sum(p.stat().st_size for p in (DEVICE / "m2v").glob("*.py"))
    print(f"device package sources: {pkg} bytes")
    rows.append(("size.package_py", pkg))

    append_rows(a.csv, machine, rows)
    return 0


def append_rows(path: Path, machine: str, rows: list[tuple[str, float]]) -> None:
    """Append one CSV row per figure (timestamp, machine, metric, value) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["timestamp", "machine", "metric", "value"])
        for metric, value in rows:
            w.writerow([stamp, machine, metric, f"{value:.6g}" if isinstance(value, float) else value])
    print(f"{len(rows)} rows appended to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

