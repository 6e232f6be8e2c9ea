"""Learning on the board (unix MicroPython) against the host twin, bit for bit, and across power loss.

tests/device/learn.py grows a version 2 index (docs/FORMAT.md, index §6) built on the host with texts
and vectors, searches it, and enrols a class-means classifier: the grown files must equal, byte for
byte, what ``host_tools.index.Index.add`` and ``host_tools.classmeans`` write, and every search and
prediction must equal the host's, with the C core's scan and the pure-Python one. Power loss: the last
append cut at every byte offset (and its slot zero-filled to full length) reads as the file before
the add, on the board and on the host, and the next add repairs it; a damaged earlier entry is
refused. tests/test_learn_vboard.py kills the virtual board while it appends.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from mpy import MODEL, run_py

from host_tools import classmeans as hcm
from host_tools import index as hindex
from host_tools import reference
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "smart_home"
PROGRAM = ROOT / "tests" / "device" / "learn.py"


@pytest.fixture(scope="module")
def ref():
    return reference.load(MODEL)


@pytest.fixture(scope="module")
def data(ref):
    """(base index bytes, adds, queries, learn lines): the inputs of tests/device/learn.py."""
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    base = hindex.build_index(ref, items[::5], grow=True)  # 65 phrasings
    rng = np.random.default_rng(4)
    adds = [[lab, t] for lab, t in items[1::25]]  # 13 texts, one per intent
    adds += [["vec", [int(x) for x in rng.integers(-900, 901, ref.header.dims)]], ["zero", [0] * ref.header.dims]]
    adds += [["ünïcode 😀", "lights out in the hall"]]
    held = [t for _, t in hindex.read_items(EX / "heldout.jsonl", need_label=True)]
    ood = [json.loads(ln)["text"] for ln in (EX / "out_of_domain.jsonl").read_text().splitlines() if ln]
    queries = held[::3] + ood[::5] + ["", "lights out in the hall", adds[13][1]]
    learn = [[lab, t] for lab, t in items if int(zlib.crc32(t.encode())) % 8 == 0][:40]
    return base, adds, queries, learn


def host_expected(ref, data):
    """What the board must print: the host twin's file CRCs, searches and predictions."""
    base, adds, queries, learn = data
    idx = hindex.Index(base, model=ref)
    for lab, item in adds:
        idx.add(item, lab)
    removed = [idx.remove("vec"), idx.remove(adds[0][0]), idx.remove("no such label")]
    again = idx.add(adds[0][1], adds[0][0])
    clf = hcm.ClassMeans(hcm.create(ref, 0.5), model=ref)
    for lab, item in learn:
        clf.learn(item, lab)
    forgot = clf.forget(learn[0][0])
    lines = ["count 65"] + [f"add {65 + i}" for i in range(len(adds))]
    lines += ["remove " + " ".join(map(str, removed)), f"add {again} {len(idx)}"]
    lines.append(f"file {zlib.crc32(grown_bytes(ref, base, adds, True)):08x}")
    lines += [json.dumps([[s, i, idx.label(i)] for s, i in idx.search_ids(q, 5)]) for q in queries]
    lines.append(f"forget {forgot} {len(clf.classes)}")
    lines.append(f"classmeans {zlib.crc32(grown_bytes(ref, hcm.create(ref, 0.5), learn, 'forget')):08x}")
    lines += [json.dumps(list(clf.predict(q))) for q in queries]
    return lines + [f"learn: {len(queries)} queries"]


def grown_bytes(ref, base: bytes, adds, then: bool | str = False) -> bytes:
    """The file the host twin writes: ``base`` grown by ``adds`` on disk; ``then`` True: the removals and the add
    again of tests/device/learn.py's index, "forget": its class-means forget."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.m2vi"
        p.write_bytes(base)
        idx = hindex.Index(p, model=ref)
        for lab, item in adds:
            idx.add(item, lab)
        if then is True:
            idx.remove("vec"), idx.remove(adds[0][0])
            idx.add(adds[0][1], adds[0][0])
        elif then == "forget":
            idx.remove(adds[0][0])
        return p.read_bytes()


def parsed(line: str):
    """A result line as data (JSON lines), so that both sides' escaping of non-ASCII labels compares equal."""
    return json.loads(line) if line[:1] == "[" else line


def board_files(tmp: Path, data) -> Path:
    base, adds, queries, learn = data
    shutil.copy(MODEL, tmp / "model.m2v")
    (tmp / "grow.m2vi").write_bytes(base)
    for name, rows in (("adds", adds), ("queries", queries), ("learn", learn)):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # the board reads no \ud83d pairs
        (tmp / f"{name}.jsonl").write_text(text, encoding="utf-8")
    return tmp


@pytest.mark.parametrize("impl", ["native", "py"])
def test_learn_program_equals_host(tmp_path, ref, data, impl, report):
    """Adds, searches and class-means predictions on the unix port equal the host twin's, file bytes too."""
    want = host_expected(ref, data)
    (tmp_path / "root").mkdir()
    root = board_files(tmp_path / "root", data)
    with UnixBoard(heap="512K", native=impl == "native") as b:  # the x64 build's C core, or none
        proc = b.run_script(PROGRAM, impl, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == f"impl scan={impl}"
    got = lines[1:]
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if parsed(g) != parsed(w)]
    assert len(got) == len(want) and not bad, bad[:3]
    grown = (root / "work.m2vi").read_bytes()
    host = hindex.Index(grown, model=ref)  # the host reads the grown file: every entry, the added ones too
    assert host.count == 65 + len(data[1]) + 3 and host.torn == 0  # two removal slots and an add
    report(f"learn on the board ({impl})", f"{len(data[1])} adds, {len(data[2])} searches and class-means "
           f"predictions identical to the host twin; grown file {len(grown):,} bytes, identical")  # fmt: skip


CUT = r"""
import m2v, os
model = m2v.load({model!r}, mode="file")
base = open({grown!r}, "rb").read()
size, slot = {size}, {slot}
want_before = {before!r}
bad = 0
for cut in list(range(size - slot, size)) + [-1]:
    with open("cut.m2vi", "wb") as f:
        if cut < 0:  # the last slot at full length, zero-filled: a file extended but not written
            f.write(base[: size - slot] + bytes(slot))
        else:
            f.write(base[:cut])
    for mode in ("file", "buf"):
        idx = m2v.Index("cut.m2vi", model=model, mode=mode)
        r = [[s, i, idx.label(i)] for s, i in idx.search_ids({query!r}, 5)]
        if len(idx) != {n_before} or r != want_before or idx.torn != (cut if cut >= 0 else size) - (size - slot):
            bad += 1
            print("cut", cut, mode, len(idx), idx.torn)
        idx.close()
idx = m2v.Index("cut.m2vi", model=model)  # the zero-filled tail: the next add (or removal) overwrites it
{redo}
idx.close()
print("repaired", open("cut.m2vi", "rb").read() == base)
print("bad", bad)
"""


@pytest.mark.parametrize("last", ["add", "remove"])
def test_append_cut_at_every_byte(tmp_path, ref, data, last, report):
    """The last append (an entry, or a removal) cut at each of its byte offsets, or zero-filled: the index before
    it, never wrong."""
    base = data[0]
    label, text = data[1][2]
    grown = grown_bytes(ref, base, data[1][:3])
    if last == "remove":
        g = tmp_path / "r.m2vi"
        g.write_bytes(grown)
        hindex.Index(g, model=ref).remove(label)
        grown = g.read_bytes()
    redo = f"idx.add({text!r}, {label!r})" if last == "add" else f"idx.remove({label!r})"
    h = hindex.parse_header(grown)
    slot = hindex.slot_size(h.dims, h.label_max)
    g = tmp_path / "grown.m2vi"
    g.write_bytes(grown)
    before = hindex.Index(grown[: len(grown) - slot], model=ref)
    query = data[2][0] if last == "add" else text  # the removal: a query that finds what it removed
    want = [[s, i, before.label(i)] for s, i in before.search_ids(query, 5)]
    code = CUT.format(model=str(MODEL), grown=str(g), size=len(grown), slot=slot, before=want, query=query,
                      n_before=before.count, redo=redo)  # fmt: skip
    proc = UnixBoard(heap="512K").run(code, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-2:] == ["repaired True", "bad 0"], proc.stdout[-1500:]
    for cut in range(len(grown) - slot, len(grown) + 1):  # the host reader: the same
        idx = hindex.Index(grown[:cut], model=ref)
        assert idx.count == (before.count + 1 if cut == len(grown) else before.count)
        assert idx.torn == (0 if cut == len(grown) else cut - (len(grown) - slot))
    assert last == "add" or [r[2] for r in want].count(label) and not any(
        lab == label for lab in (hindex.Index(grown, model=ref).search(query, 5)))  # the removal did remove
    report(f"append cut at every byte, last slot {'an entry' if last == 'add' else 'a removal'} (unix port)",
           f"{slot + 1} cuts of a {slot}-byte slot, file and buffer modes: each reads as before; "
           "the next write repairs")  # fmt: skip


def test_damage_refused_and_versions(tmp_path, ref, data):
    """A damaged earlier entry or base is refused with a clear error; version 1 cannot grow; version 3 is refused."""
    grown = bytearray(grown_bytes(ref, data[0], data[1][:3]))
    h = hindex.parse_header(bytes(grown))
    slot = hindex.slot_size(h.dims, h.label_max)
    mid = bytearray(grown)
    mid[h.file_size + 5] ^= 1  # the first appended entry, two before the end
    base_flip = bytearray(grown)
    base_flip[h.entries_off + 3] ^= 1
    v3 = bytearray(grown)
    v3[4] = 3
    v1 = hindex.build_index(ref, [("a", "turn on the lights"), ("b", "play music")])
    files = {"mid": bytes(mid), "base": bytes(base_flip), "v3": bytes(v3), "v1": v1,
             "short": bytes(grown[: h.file_size - 1])}  # fmt: skip
    msgs = {"mid": "appended entry 65 fails its CRC-32", "base": "CRC-32 mismatch",
            "v3": "unsupported m2v index version 3; this reader supports 1, 2", "short": "truncated m2v index"}  # fmt: skip
    for name, b in files.items():
        (tmp_path / f"{name}.m2vi").write_bytes(b)
    code = (
        f"import m2v\nfor name in {list(files)!r}:\n"
        "    try:\n"
        f"        i = m2v.Index({str(tmp_path)!r} + '/' + name + '.m2vi', model=m2v.load({str(MODEL)!r}))\n"
        "        i.add('lights on', 'x')\n"
        "        print(name, 'accepted')\n"
        "    except ValueError as e:\n"
        "        print(name, 'ValueError', e)\n"
    )
    proc = run_py(code, heapsize="1M")
    assert proc.returncode == 0, proc.stderr[-1500:]
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    for name, msg in msgs.items():
        assert out[name].startswith("ValueError") and msg in out[name], (name, out[name])
        with pytest.raises(ValueError, match=msg):
            hindex.Index(files[name])
    assert out["v1"] == "ValueError an m2v index version 1 cannot grow: build it with --grow (version 2)"
    with pytest.raises(ValueError, match="version 1 cannot grow"):
        hindex.Index(v1, model=ref).add("lights on", "x")
    assert slot == 296 and struct.unpack_from("<H", grown, 4)[0] == 2


def test_heap_of_an_add(tmp_path, ref, data, report):
    """An add allocates under 2 KB and keeps nothing; a search allocates the same whatever the size."""
    g = tmp_path / "g.m2vi"
    g.write_bytes(data[0])
    vec = [int(x) for x in ref.embed("turn the lights off")]
    code = (
        f"import gc, m2v\nmodel = m2v.load({str(MODEL)!r}, mode='file')\n"
        f"idx = m2v.Index({str(g)!r}, model=model)\nv = {vec!r}\nt = 'switch the hall light off'\n"
        "idx.add(v, 'first')\n"  # the first add reopens the file for writing (the handle replaces the old)
        "model.embed(t)\n"  # the model's first embed sets up its own buffers
        "def heap(f):\n"
        "    gc.collect(); a = gc.mem_alloc(); f(); used = gc.mem_alloc() - a\n"
        "    gc.collect(); return used, gc.mem_alloc() - a\n"
        "print('vector', *heap(lambda: idx.add(v, 'lights_off')))\n"
        "print('text', *heap(lambda: idx.add(t, 'lights_off')))\n"
        "s = [heap(lambda: idx.search(v, 5))[0], len(idx)]\n"
        "for n in (200, 1000):\n"
        "    for i in range(n):\n"
        "        idx.add(v, 'x')\n"
        "    s += [heap(lambda: idx.search(v, 5))[0], len(idx)]\n"
        "print('search', *s)\n"
    )
    proc = run_py(code, heapsize="256K")
    assert proc.returncode == 0, proc.stderr[-1500:]
    r = {ln.split()[0]: [int(x) for x in ln.split()[1:]] for ln in proc.stdout.splitlines()}
    report("heap of an add (unix port, 256-dim, source package)",
           f"vector {r['vector'][0]} B, text {r['text'][0]} B transient, kept {r['vector'][1]} / {r['text'][1]} B; "
           "search " + ", ".join(f"{b} B at {n} entries" for b, n in zip(r["search"][::2], r["search"][1::2])))  # fmt: skip
    assert r["vector"][0] <= 2048 and r["text"][0] <= 2048
    assert r["vector"][1] <= 0 and r["text"][1] <= 0
    s = r["search"][::2]
    assert max(s) - min(s) <= 512 and s[2] <= s[0]  # flat as the index grows (a last partial chunk, labels)


def test_learn_program_on_emulated_board(ref, data, report):
    """The same program on an emulated RP2040-class board (Cortex-M0, 192 KiB heap, the package as .mpy in ROMFS).

    The qemu board has no writable filesystem: the program grows a copy of the index held in RAM behind
    the file methods Index uses; adds, searches, class-means predictions and file bytes equal the host's.
    """
    from test_emulated_boards import emuboard, need

    name = "cortex-m0"
    need(name)
    base, adds, queries, learn = data
    files = {"grow.m2vi": base}
    for fname, rows in (("adds", adds), ("queries", queries), ("learn", learn)):
        files[f"{fname}.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    want = host_expected(ref, data)
    with emuboard.Board(name, emuboard.default_image(emuboard.BOARDS[name].arch, files)) as b:
        lines = b.run_file(PROGRAM, "native").strip().splitlines()
    assert lines[0] == "impl scan=native", lines[:3]
    got = lines[1:]
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if parsed(g) != parsed(w)]
    assert len(got) == len(want) and not bad, bad[:3]
    report(f"learn on {name}", f"{len(adds)} adds, {len(queries)} searches and class-means predictions "
           "identical to the host twin, file bytes too")  # fmt: skip


def test_add_errors_and_isqrt(tmp_path, ref, data):
    """Bad adds raise clear errors and leave the file as it was; the board's isqrt is math.isqrt's."""
    import math

    g = tmp_path / "g.m2vi"
    g.write_bytes(data[0])
    big = [32767] * 4 + [0] * (ref.header.dims - 4)  # far from the center: a multiplier above 32767
    nums = [0, 1, 2, 3, 4, 15, 16, 17, 2**30 - 1, 2**30, 2**62 + 12345, 10**30 + 7]
    code = (
        f"import m2v, m2v.classmeans as cm\nidx = m2v.Index({str(g)!r}, model=m2v.load({str(MODEL)!r}))\n"
        f"cases = [('long', 'ok', 'y' * 33), ('type', 'ok', 5), ('big', {big!r}, 'x'), ('len', [1, 2], 'x')]\n"
        "for name, item, label in cases:\n"
        "    try:\n"
        "        idx.add(item, label)\n"
        "        print(name, 'accepted')\n"
        "    except (ValueError, TypeError) as e:\n"
        "        print(name, type(e).__name__, e)\n"
        f"b = m2v.Index(open({str(g)!r}, 'rb').read())\n"
        "try:\n"
        "    b.add('ok', 'x')\n"
        "except ValueError as e:\n"
        "    print('buf', e)\n"
        f"print('isqrt', [cm.isqrt(n) for n in {nums!r}])\n"
    )
    proc = run_py(code, heapsize="1M")
    assert proc.returncode == 0, proc.stderr[-1500:]
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert out["long"] == "ValueError label is 33 bytes, this index holds at most 32"
    assert out["type"] == "TypeError label must be a str"
    assert out["big"].startswith("ValueError vector too far from the index's center to add")
    assert out["len"] == "ValueError query vector must be 256 integers"
    assert out["buf"] == "add needs an index opened in file mode"
    assert out["isqrt"] == str([math.isqrt(n) for n in nums])
    assert g.read_bytes() == data[0]  # nothing written
    with pytest.raises(ValueError, match="vector too far"):
        hindex.Index(data[0], model=ref).add(big, "x")
