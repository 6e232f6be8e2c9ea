"""The package's native C core (device/native, firmware_assets/native/<arch>/_native.mpy).

The committed builds must be what the source builds to with the pinned MicroPython source and
Debian's toolchains (users need no cross compiler, and a stale build cannot hide), and the core
must equal the pure-Python twins (pooling, the row scan) on seeded batches, on the unix port here
and on every emulated board (tests/test_emulated_boards.py runs the same device program).
"""

from __future__ import annotations

import json
import shutil

import pytest
from mpy import DEVICE, ROOT

from scripts import build_native, emuboard
from scripts.board import UnixBoard


def test_committed_builds_are_the_sources_build(tmp_path, report):
    try:
        # xtensawin: the committed build is Debian LLVM 22's, even where Espressif's gcc is on PATH
        built = {arch: build_native.build(arch, tmp_path, xtensa="llvm") for arch in build_native.ARCHS}
    except emuboard.ToolsMissing as e:
        if emuboard.in_ci():
            pytest.fail(f"the native core's toolchains are required in CI: {e}")
        pytest.skip(f"cannot build the native core here: {e}")
    stale = [a for a, p in built.items() if p.read_bytes() != (build_native.OUT / a / "_native.mpy").read_bytes()]
    assert not stale, f"firmware_assets/native is stale for {stale}: run make native and commit"
    report("native core builds equal to the committed ones", ", ".join(f"{a} {p.stat().st_size} B" for a, p in built.items()))


def test_native_pool_and_rows_equal_python_on_unix_port(tmp_path, report):
    pkg = tmp_path / "m2v"
    shutil.copytree(DEVICE / "m2v", pkg)
    shutil.copy(build_native.OUT / "x64" / "_native.mpy", pkg / "_native.mpy")
    code = (ROOT / "tests" / "device" / "native_pool.py").read_text()
    p = UnixBoard(heap=None, device=tmp_path).run(code, timeout=300, argv=["native_pool.py", "300", "11"])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-2:] == ["native_pool: 300 cases, 0 mismatches, errors 2/2",
                                                  "native_rows: 300 cases, 0 mismatches, errors 2/2"], p.stdout[-500:]
    report("unix native pooling and row scan vs py", "300 + 300 cases, 0 mismatches")


def test_core_for_another_architecture_raises(tmp_path):
    """A _native.mpy of the wrong architecture: the first load says so and runs the twin; use("native") refuses."""
    pkg = tmp_path / "m2v"
    shutil.copytree(DEVICE / "m2v", pkg)
    shutil.copy(build_native.OUT / "armv6m" / "_native.mpy", pkg / "_native.mpy")
    code = (
        "import m2v\n"
        f"m = m2v.load({str(ROOT / 'firmware_assets' / 'model.m2v')!r})\nm.embed('x')\nprint(m.impl['tok'])\n"
        "try:\n    m2v.use('native')\nexcept ValueError as e:\n    print('ValueError:', e)\n"
    )
    p = UnixBoard(heap=None, device=tmp_path).run(code, timeout=120)  # stderr: the line the package prints
    assert p.returncode == 0, p.stderr[-2000:]
    said, lines = p.stderr.splitlines(), p.stdout.splitlines()
    assert len(said) == 1 and said[0].startswith("m2v: C core not loaded (m2v._native: incompatible .mpy"), said
    assert said[0].endswith("); running the pure-Python twin"), said
    assert lines[0] == "py", lines
    assert lines[1].startswith("ValueError: the C core does not load: m2v._native: incompatible .mpy"), lines


@pytest.mark.parametrize("spare, accel, ram", [(100000, "gf 4 fine True", False), (10000, "gf 0 fine False", False),
                                               (10000, "gf 0 fine False", True)])
def test_paged_trie_with_fine_group_samples_equals_buffer_mode(tmp_path, report, spare, accel, ram):
    """File mode with every table paged and T[ACCEL] as m2v/_spend.py allocates it for a large budget (4,096 group
    entries: exact starts and GFINE, a start every 16 groups) or a small one (the default budget's 1,024 exact
    starts, no GFINE: GSTART's samples, one every 64 groups): child() reads NODES, HASKIDS and GSTART through
    the page cache (ram: HASKIDS and GSTART in RAM, as the default budget has them on a 192 KiB heap); its tokens
    and vectors equal buffer mode's (child_ram), on corpus and fuzz texts."""
    from truth import fuzz_texts

    shutil.copytree(DEVICE / "m2v", tmp_path / "m2v")
    shutil.copy(build_native.OUT / "x64" / "_native.mpy", tmp_path / "m2v" / "_native.mpy")
    rows = (ROOT / "tests" / "corpus" / "multilingual.jsonl").read_text().splitlines()
    texts = [json.loads(r)["text"] for r in rows[:400]] + fuzz_texts(100, 7)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = (
        "import json, sys, m2v\nfrom m2v._tok_py import T_ACCEL, T_NODES, C_NG\n"
        "texts = json.load(open(sys.argv[1]))\nmb = m2v.load(sys.argv[2])\nmf = m2v.load(sys.argv[2], mode='file', ram=0)\n"
        f"import m2v._spend\nmf.tok.T[T_ACCEL] = None\nmf.tok.c[C_NG] = 0\nm2v._spend.spend(mf.tok, mf, {spare})\n"
        + ("from m2v._tok_py import T_HASKIDS, T_GSTART\nfor k in (T_HASKIDS, T_GSTART):\n"
           "    s = mf.tok.T[k]\n    mf.tok.T[k] = bytearray(s[i] for i in range(len(s)))\n" if ram else "")
        + "mf.embed('x')\nh = mf.tok.T[T_ACCEL]\n"
        "print('paged', type(mf.tok.T[T_NODES]).__name__, 'gf', h[2] | h[3] << 8, 'fine', (h[4] | h[5] << 8) > 0)\n"
        "bad = sum(mb.tokenize(t) != mf.tokenize(t) or list(mb.embed(t)) != list(mf.embed(t)) for t in texts)\n"
        "print(len(texts), 'texts', bad, 'mismatches', mb.impl['tok'], mf.impl['tok'])\n"
    )
    p = UnixBoard(heap="8M", device=tmp_path).run(code, timeout=300, argv=["x.py", str(tmp_path / "texts.json"),
                                                                           str(ROOT / "firmware_assets" / "model.m2v")])
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    assert lines[0] == f"paged FileSection {accel}", lines  # NODES through the cache; GFINE's shift, entries
    assert lines[1] == f"{len(texts)} texts 0 mismatches native native", lines
    where = ", HASKIDS and GSTART in RAM" if ram else ""
    report(f"unix paged trie ({accel}{where}) vs buffer mode", f"{len(texts)} texts, 0 mismatches")
