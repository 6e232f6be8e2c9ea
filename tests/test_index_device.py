"""On-device search (unix MicroPython) against the host search, over a 10,000-entry index of the corpus.

The index holds 10,000 corpus texts (a seeded permutation; the other 683 are
held out). Queries are 1,000 of the indexed texts (seeded), searched on the
real unix port with ``m2v.Index`` and on the host with
``host_tools.index.Index``: labels, order and integer scores must be equal.
ROMFS (buffer) mode with the C core runs all 1,000 queries in ``make test``; file
mode runs 200 (all 1,000 under ``-m slow``); the pure-Python scan runs on a
small index, and on the 10,000 entries under ``-m slow``.

Top-1 agreement with a float search over model2vec's own embeddings (cosine)
is measured on the host, which the parity tests tie to the board.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from mpy import MODEL

from host_tools import index as hindex
from host_tools import reference
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "multilingual.jsonl"
K = 5
N_ENTRIES, N_QUERIES, N_FAST = 10_000, 1_000, 200

# Runs under MicroPython: one JSON text (or int list) per input line, one JSON
# result per output line: [[score, entry, label], ...] or "!Exc: message".
RUNNER = r"""
import sys, json
mode, impl, src, model, inp, outp, k = sys.argv[1:8]
import m2v
import m2v._rows as rows
m2v.use(impl)  # the model's tokenizer and pooling and the index's scan
assert (rows.scan() is rows._scan_py) == (impl == "py"), "the scan selected is not the one that runs"
if mode == "rom":
    import vfs
    with open(src, "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    mdl = m2v.load("/rom/model.m2v")
    idx = m2v.Index("/rom/index.m2vi", model=mdl)
else:
    mdl = m2v.load(model, mode="file")
    idx = m2v.Index(src, model=mdl, mode="file")
k = int(k)
with open(inp) as fi, open(outp, "w") as fo:
    for line in fi:
        q = json.loads(line)
        try:
            r = idx.search_ids(q, k)
            fo.write(json.dumps([[s, i, idx.label(i)] for s, i in r]) + "\n")
        except Exception as e:
            fo.write(json.dumps("!" + type(e).__name__ + ": " + str(e)) + "\n")
"""


def romfs(files: dict[str, Path], out: Path) -> Path:
    """A ROMFS image holding ``files`` (name -> host path), built with mpremote's builder."""
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as d:
        for name, p in files.items():
            shutil.copy(p, Path(d) / name)
        with contextlib.redirect_stdout(io.StringIO()):
            image = make_romfs(d, mpy_cross=False)
    out.write_bytes(image)
    return out


def _chunk(queries: list, mode: str, impl: str, src: Path, workdir: Path, tag: str) -> list:
    inp, outp = workdir / f"in{tag}.jsonl", workdir / f"out{tag}.jsonl"
    inp.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8")
    heap = "16M" if mode == "rom" else "256K"
    argv = ["runner.py", mode, impl, str(src), str(MODEL), str(inp), str(outp), str(K)]
    with UnixBoard(heap=heap, native=impl == "native") as b:  # the x64 build's C core, or none
        proc = b.run(RUNNER, timeout=3600, argv=argv)
    if proc.returncode != 0:
        raise RuntimeError(f"micropython failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = [json.loads(line) for line in outp.read_text(encoding="utf-8").splitlines()]
    assert len(out) == len(queries)
    return out


def run_board(queries: list, mode: str, impl: str, index_path: Path, workers: int = 2) -> list:
    """Search ``queries`` on the unix port; one result list per query."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src = romfs({"model.m2v": MODEL, "index.m2vi": index_path}, d / "img.romfs") if mode == "rom" else index_path
        n = max(1, min(workers, os.cpu_count() or 1, len(queries)))
        with ThreadPoolExecutor(n) as ex:
            parts = list(ex.map(lambda i: _chunk(queries[i::n], mode, impl, src, d, str(i)), range(n)))
    out: list = [None] * len(queries)
    for i, part in enumerate(parts):
        for j, r in enumerate(part):
            out[i + j * n] = r
    return out


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


@pytest.fixture(scope="module")
def setup(corpus_texts, tmp_path_factory):
    """(index path, host Index, entry corpus ids, query entry positions)."""
    perm = np.random.default_rng(0).permutation(len(corpus_texts))
    ent = perm[:N_ENTRIES]
    ref = reference.load(MODEL)
    path = tmp_path_factory.mktemp("index") / "corpus.m2vi"
    t0 = time.monotonic()
    path.write_bytes(hindex.build_index(ref, [(f"c{int(i)}", corpus_texts[i]) for i in ent]))
    build_s = time.monotonic() - t0
    host = hindex.Index(path, model=ref)
    qpos = np.random.default_rng(2).choice(N_ENTRIES, N_QUERIES, replace=False)
    return path, host, ent, qpos, build_s


def host_results(host, queries) -> list:
    return [[[s, i, host.label(i)] for s, i in r] for r in host.search_ids_batch(queries, K)]


def compare(got, want, queries) -> None:
    errors = [g for g in got if isinstance(g, str)]
    assert not errors, errors[:3]
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, [(queries[i][:60], got[i], want[i]) for i in bad[:3]]


def test_parity_romfs_native_1000(setup, corpus_texts, report):
    path, host, ent, qpos, build_s = setup
    queries = [corpus_texts[ent[p]] for p in qpos]
    t0 = time.monotonic()
    want = host_results(host, queries)
    host_s = time.monotonic() - t0
    t0 = time.monotonic()
    got = run_board(queries, "rom", "native", path)
    board_s = time.monotonic() - t0
    compare(got, want, queries)
    report("index: 10,000 entries", f"{path.stat().st_size:,} bytes, built in {build_s:.1f} s")
    report(
        "index parity ROMFS/native",
        f"{len(queries)} queries x {N_ENTRIES} entries, top-{K} identical (labels, order, scores); "
        f"board {board_s:.1f} s wall (2 processes), host {host_s:.1f} s",
    )


def test_parity_file_native_sample(setup, corpus_texts):
    path, host, ent, qpos, _ = setup
    queries = [corpus_texts[ent[p]] for p in qpos[:N_FAST]]
    compare(run_board(queries, "file", "native", path), host_results(host, queries), queries)


@pytest.mark.slow
def test_parity_file_native_1000(setup, corpus_texts, report):
    path, host, ent, qpos, _ = setup
    queries = [corpus_texts[ent[p]] for p in qpos]
    t0 = time.monotonic()
    got = run_board(queries, "file", "native", path)
    compare(got, host_results(host, queries), queries)
    report("index parity file/native", f"{len(queries)} queries x {N_ENTRIES} entries in {time.monotonic() - t0:.1f} s")


@pytest.mark.slow
def test_parity_pure_python_10k(setup, corpus_texts):
    path, host, ent, qpos, _ = setup
    queries = [corpus_texts[ent[p]] for p in qpos[:40]]
    compare(run_board(queries, "file", "py", path), host_results(host, queries), queries)


def test_parity_vectors_and_ties(setup, corpus_texts):
    """Vector queries (zero, one-hot, extreme, random int16) and ties: identical on both sides."""
    path, host, ent, qpos, _ = setup
    rng = np.random.default_rng(5)
    d = host.dims
    vecs = [[0] * d, [16384] + [0] * (d - 1), [-16384] * 1 + [0] * (d - 1)]
    vecs += [[int(x) for x in rng.integers(-600, 601, d)] for _ in range(5)]
    vecs += [[int(x) for x in host.model.embed(corpus_texts[ent[p]])] for p in qpos[:5]]
    too_big = [32767] * d  # sum |q| above the index's bound: ValueError on both sides
    want = host_results(host, vecs)
    assert [r[1] for r in want[0]] == list(range(K))  # zero query: all scores equal, lowest entries first
    got = run_board(vecs + [too_big], "rom", "native", path, workers=1)
    compare(got[:-1], want, [str(v[:4]) for v in vecs])
    assert got[-1].startswith("!ValueError: query vector too large")
    with pytest.raises(ValueError, match="too large"):
        host.search(too_big)


def test_top1_agreement_with_model2vec(setup, corpus_texts, m2v, report):
    """Host search (= board search) top-1 vs cosine search over model2vec's float embeddings: >= 99 %.

    Agreement counts when model2vec's cosine of our top-1 entry equals its best
    cosine (within 1e-6): texts with the same bag of known tokens have the same
    vector, so the float search has exact ties. Queries whose model2vec vector
    is zero (no known token; cosine undefined) are left out.
    """
    path, host, ent, qpos, _ = setup
    ent_texts = [corpus_texts[i] for i in ent]
    f = m2v.encode(ent_texts, use_multiprocessing=False).astype(np.float64)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    ok = strict = n = 0
    tops = host.search_ids_batch([ent_texts[p] for p in qpos], 1)
    fcs = f[qpos] @ f.T
    for p, [(_, i)], fc in zip(qpos, tops, fcs):
        if not f[p].any():
            continue
        n += 1
        ok += bool(fc[i] >= fc.max() - 1e-6)
        strict += bool(i == int(np.argmax(fc)))
    report(
        "index top-1 vs model2vec float cosine search", f"{ok / n:.2%} of {n} queries (strict argmax: {strict / n:.2%})"
    )
    assert ok / n >= 0.99


def test_heldout_agreement_figures(setup, corpus_texts, m2v, report):
    """Figures only: held-out texts and half-texts as queries (int8 index vs exact Q14 vectors vs float)."""
    path, host, ent, qpos, _ = setup
    ref = host.model
    held = [corpus_texts[i] for i in np.random.default_rng(0).permutation(len(corpus_texts))[N_ENTRIES:]]
    halves = [" ".join(t.split()[: max(1, len(t.split()) // 2)]) for t in (corpus_texts[ent[p]] for p in qpos[:317])]
    queries = held + halves
    ent_texts = [corpus_texts[i] for i in ent]
    f = m2v.encode(ent_texts, use_multiprocessing=False).astype(np.float64)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    fq = m2v.encode(queries, use_multiprocessing=False).astype(np.float64)
    e = ref.embed_batch(ent_texts).astype(np.float64)
    ok_idx = ok_exact = n = 0
    tops = host.search_ids_batch(queries, 1)
    fcs = fq @ f.T
    scs = ref.embed_batch(queries).astype(np.float64) @ e.T  # integers below 2**30: exact
    for qf, [(_, i)], fc, sc in zip(fq, tops, fcs, scs):
        if not qf.any():
            continue
        n += 1
        best = fc.max() - 1e-6
        ok_idx += bool(fc[i] >= best)
        ok_exact += bool(fc[int(np.argmax(sc))] >= best)
    report(
        "index top-1 vs model2vec, held-out + half-text queries",
        f"int8 index {ok_idx / n:.1%}, exact Q14 vectors {ok_exact / n:.1%} ({n} queries)",
    )
    assert ok_idx / n >= ok_exact / n - 0.08


def test_pure_python_scan_small_index(tmp_path, corpus_texts):
    """The pure-Python scan equals the C core's and the host on a 300-entry index, file and ROMFS modes."""
    ref = reference.load(MODEL)
    items = [(f"t{i % 7}", corpus_texts[i * 31]) for i in range(300)]  # repeated labels (deduplicated)
    items += [("dup-a", "turn on the lights"), ("dup-b", "turn on the lights")]  # a tie: dup-a first
    path = tmp_path / "small.m2vi"
    path.write_bytes(hindex.build_index(ref, items))
    host = hindex.Index(path, model=ref)
    assert host.header.n_labels == 9
    queries = [corpus_texts[i * 31 + 3] for i in range(20)] + ["turn on the lights", ""]
    want = host_results(host, queries)
    assert [r[2] for r in want[-2][:2]] == ["dup-a", "dup-b"] and want[-2][0][0] == want[-2][1][0]
    for mode in ("file", "rom"):
        compare(run_board(queries, mode, "py", path, workers=1), want, queries)
        compare(run_board(queries, mode, "native", path, workers=1), want, queries)


def test_text_query_with_another_model_is_refused_on_the_board(tmp_path):
    """An index remembers its model's CRC-32: the board refuses a text query embedded with another model."""
    idx = tmp_path / "small.m2vi"
    (tmp_path / "texts.txt").write_text("turn on the lights\nplay some music\nset a timer\n")
    hindex.write_index(MODEL, tmp_path / "texts.txt", idx)
    other = tmp_path / "other.m2v"
    other.write_bytes(MODEL.read_bytes())
    data = bytearray(other.read_bytes())
    data[16] ^= 1  # the informational flags field: a different model file with the same shape
    data[12:16] = (zlib.crc32(bytes(data[16:])) & 0xFFFFFFFF).to_bytes(4, "little")
    other.write_bytes(bytes(data))
    code = (
        "import m2v\n"
        f"ok = m2v.Index({str(idx)!r}, model=m2v.load({str(MODEL)!r})).search('lights on', 1)\n"
        "print('same', ok[0][1])\n"
        "try:\n"
        f"    m2v.Index({str(idx)!r}, model=m2v.load({str(other)!r})).search('lights on', 1)\n"
        "    print('accepted')\n"
        "except ValueError as e:\n"
        "    print('refused', e)\n"
    )
    proc = UnixBoard(heap="2M").run(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "same turn on the lights"
    assert lines[1].startswith("refused") and "crc32" in lines[1]
