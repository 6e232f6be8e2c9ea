"""The device package on emulated microcontrollers: Cortex-M0 (RP2040's armv6m), Cortex-M7, RV32IMC, Xtensa LX7.

MicroPython v1.28.0's qemu port, built from source (scripts/emuboard.py), runs the package
compiled for each board's architecture (``make dist``'s .mpy) from a ROMFS image mounted at /rom,
driven over qemu's serial pty with mpremote's transport, as a real board is. The test programs are
files in tests/device/ that run unchanged on the unix port (checked here too), on these boards and
on a real board (``mpremote run`` with ``sys.argv`` set).

On each board, in ``make test``: a parity sample (corpus, fuzz, code point and long texts) in
ROMFS mode (read in place) and file mode (streamed), with the C core (``m2v.use("native")`` and the
default), and a smaller one with the pure-Python twins; every damaged or foreign model refused with
ValueError in both modes; import, load and a 3,000-character embed within an ESP32-class heap
(100 KiB) with the C core's code in RAM. ``make slow``
runs the whole corpus and every code point on each board. Token ids are checked against
``tokenizers`` and vectors against the reference through their CRC-32s (the emulated UART is no
place for 35,000 vectors).

Without qemu, the cross compilers or the MicroPython source these tests skip with one line saying
how to get them; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from mpy import MODEL, ROOT
from test_device_errors import _files
from truth import Truth, codepoint_texts, corpus, fuzz_texts, long_texts

from host_tools import reference
from scripts import emuboard

PROGRAMS = ROOT / "tests" / "device"
BOARD_NAMES = list(emuboard.BOARDS)
TEXT_3K = ("The quick brown fox jumps over the lazy dog near the riverbank. " * 48)[:3000]


def need(board: str) -> None:
    """Skip (or, under CI, fail) when the board cannot be built here."""
    try:
        emuboard.mpy_dir()
        emuboard.ensure_tools(emuboard.BOARDS[board])
    except emuboard.ToolsMissing as e:
        if emuboard.in_ci():
            pytest.fail(f"emulated boards are required in CI: {e}")
        pytest.skip(f"emulated boards not available: {e} (or set MPY_DIR)")


def jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode()


def sample_texts() -> list[str]:
    """A few hundred texts: every 60th corpus text, seeded fuzz texts, code points, the limit cases."""
    return corpus()[::60] + fuzz_texts(60, seed=21) + codepoint_texts(step=8191) + long_texts()


def py_texts() -> list[str]:
    """The small sample for the pure-Python twins: about 150x the C core's instructions per token on a board."""
    return corpus()[17::1500] + fuzz_texts(3, seed=22)


class Expected:
    """CRC-32s of the true token ids (tokenizers, model2vec semantics) and of the reference vectors."""

    def __init__(self) -> None:
        self.truth = Truth()
        self.ref = reference.load(MODEL)

    def crcs(self, texts: list[str]) -> list[str]:
        out = []
        for ids, t in zip(self.truth.ids(texts), texts):
            vec = np.asarray(self.ref.embed(t), dtype="<i2")
            out.append(f"{zlib.crc32(np.asarray(ids, dtype='<i4').tobytes()):08x}{zlib.crc32(vec.tobytes()):08x}")
        return out


@pytest.fixture(scope="module")
def expected() -> Expected:
    return Expected()


def compare(out: str, texts: list[str], want: list[str], label: str, report) -> None:
    """Check a parity.py output against the expected CRCs; report the counts under ``label``."""
    lines = out.strip().splitlines()
    assert lines and lines[-1] == f"parity: {len(texts)} texts", lines[-3:]
    got = [ln for ln in lines if re.fullmatch(r"[0-9a-f]{16}|!.*", ln)]
    assert len(got) == len(texts), f"{len(got)} results for {len(texts)} texts"
    errors = [(i, g) for i, g in enumerate(got) if g.startswith("!")]
    assert not errors, [(texts[i][:60], g) for i, g in errors[:3]]
    id_bad = [i for i, (g, w) in enumerate(zip(got, want)) if g[:8] != w[:8]]
    vec_bad = [i for i, (g, w) in enumerate(zip(got, want)) if g[8:] != w[8:]]
    report(label, f"{len(texts)} texts, {len(id_bad)} id mismatches, {len(vec_bad)} vector mismatches")
    assert not id_bad, [texts[i][:80] for i in id_bad[:3]]
    assert not vec_bad, [texts[i][:80] for i in vec_bad[:3]]
    assert any(ln.startswith("impl tok=") for ln in lines), "the program did not say which implementation ran"


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, model_dir) -> dict[str, tuple[bytes, str]]:
    """Damaged and foreign models (as test_device_errors builds them) with the message each must give."""
    tmp = tmp_path_factory.mktemp("bad")
    good = MODEL.read_bytes()
    files = _files(good, model_dir, tmp)
    out = {name: (path.read_bytes(), match) for name, (path, match) in files.items()}
    for off in (200, len(good) - 5):  # the section table (structure check) and the last centroid (CRC)
        b = bytearray(good)
        b[off] ^= 0x5A
        out[f"flip{off}"] = (bytes(b), "corrupt")
    return out


EXAMPLE = ROOT / "examples" / "smart_home"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> tuple[bytes, list[str], list[tuple[str | None, int]]]:
    """The smart-home classifier (rejection on), its held-out and out-of-domain texts, the host's predictions."""
    from host_tools import classifier as hc
    from host_tools import index as hindex

    ref = reference.load(MODEL)
    data = hc.train(ref, hindex.read_items(EXAMPLE / "intents.jsonl", need_label=True), c=30.0, reject=0.1)
    texts = [t for _, t in hindex.read_items(EXAMPLE / "heldout.jsonl", need_label=True)]
    texts += [json.loads(ln)["text"] for ln in (EXAMPLE / "out_of_domain.jsonl").read_text().splitlines() if ln]
    path = tmp_path_factory.mktemp("clf") / "clf.m2vc"
    path.write_bytes(data)
    host = hc.Classifier(path, model=ref)
    return data, texts, [host.predict(t) for t in texts]


@pytest.fixture(scope="module", params=BOARD_NAMES)
def board(request, bad_models, classifier):
    """A running board (192 KiB heap, RP2040-class) with the model, the samples and the bad models in /rom."""
    name = request.param
    need(name)
    files: dict[str, Path | bytes] = {
        **{f"data/{PARITY[i][0]}.jsonl": jsonl(parity_texts(name, i)) for i in PARITY},
        "data/text3k.txt": TEXT_3K.encode(),
        "clf.m2vc": classifier[0],  # tests/device/classify.py looks for /rom/clf.m2vc
        "clf_texts.jsonl": jsonl(classifier[1]),
    }
    files.update({f"bad/{n}": data for n, (data, _) in bad_models.items()})
    image = emuboard.default_image(emuboard.BOARDS[name].arch, files)
    with emuboard.Board(name, image) as b:
        yield b


# per implementation: its sample (a file in the board's image), and the pooling model.impl reports
# for buffer and file mode. "default" makes no choice: the board's package build picks the C core.
PARITY = {
    "native": ("sample", sample_texts, ("native", "native")),
    "default": ("default", lambda: py_texts() + sample_texts()[::5], ("native", "native")),
    "py": ("py", py_texts, ("py", "py")),
}


def parity_texts(board: str, impl: str) -> list[str]:
    """The parity sample of ``impl`` on ``board`` (the same on every board)."""
    return PARITY[impl][1]()


@pytest.mark.parametrize("mode", ["buf", "file"])
@pytest.mark.parametrize("impl", list(PARITY))
def test_parity(board, expected, impl, mode, report):
    name, _, pools = PARITY[impl]
    texts = parity_texts(board.name, impl)
    out = board.run_file(PROGRAMS / "parity.py", "/rom/model.m2v", mode, impl, f"/rom/data/{name}.jsonl")
    compare(out, texts, expected.crcs(texts), f"{board.name} parity {'rom' if mode == 'buf' else mode}/{impl}", report)
    tok = {"py": "py", "native": "native", "default": "native"}[impl]
    # the default ram=None on this 192 KiB heap reads a part of file mode's tokenizer tables into RAM
    # (its share of the heap: m2v/_load.py), the C core reading the others through the page cache
    tables = mode
    assert f"impl tok={tok} pool={pools[mode == 'file']} tables={tables}" in out
    # the default: the C core's one-call embed, every text in C (no hand-over to tok.run)
    loops = {"py"} if impl == "py" else {"native"}
    assert f"loops {','.join(sorted(loops))}" in out, out[-300:]


def check_bad_models(out: str, bad_models: dict[str, tuple[bytes, str]]) -> int:
    lines = out.strip().splitlines()
    assert lines[-1] == f"bad_models: {2 * len(bad_models)} cases", lines[-3:]
    wrong = []
    for ln in lines[:-1]:
        name, mode, result = ln.split(" ", 2)
        if not result.startswith("ValueError: ") or not re.search(bad_models[name][1], result):
            wrong.append(ln)
    assert not wrong, wrong[:5]
    return len(lines) - 1


def test_bad_models(board, bad_models, report):
    out = board.run_file(PROGRAMS / "bad_models.py", "/rom/bad")
    n = check_bad_models(out, bad_models)
    report(f"{board.name} bad models refused (buffer + file mode)", f"{n}/{n}")


def test_classifier_equals_host(board, classifier, report):
    """m2v.Classifier on the board: the host twin's label and integer score for every text."""
    _, texts, want = classifier
    lines = board.run_file(PROGRAMS / "classify.py").strip().splitlines()
    assert lines[-1] == f"classify: {len(texts)} texts", lines[-3:]
    got = [tuple(ln.split("\t")) for ln in lines[:-1]]
    bad = [(t, g, w) for t, g, w in zip(texts, got, want) if g != (str(w[0]), str(w[1]))]
    rejected = sum(w[0] is None for w in want)
    report(f"{board.name} classifier", f"{len(texts)} texts ({rejected} rejected), {len(bad)} differ from the host")
    assert len(got) == len(texts) and not bad, bad[:3]


def test_native_pool_on_board(board, report):
    """The C core for the board's architecture (in its package build) equals the Python pooling and row scan."""
    out = board.run_file(PROGRAMS / "native_pool.py", "120", "3")
    assert out.strip().splitlines()[-2:] == ["native_pool: 120 cases, 0 mismatches, errors 2/2",
                                             "native_rows: 120 cases, 0 mismatches, errors 2/2"], out[-300:]
    report(f"{board.name} native pooling and row scan vs py", "120 + 120 cases, 0 mismatches")


def test_architecture_read_from_board(board):
    """scripts/mpy_arch.py decodes the board's sys.implementation._mpy and picks the .mpy build it runs."""
    from scripts import mpy_arch

    value = int(board.exec("import sys\nprint(sys.implementation._mpy)").split()[-1])
    abi = mpy_arch.decode(value)
    native = {"cortex-m0": "armv6m", "cortex-m7": "armv7emdp", "rv32imc": "rv32imc", "xtensa-lx7": "xtensawin"}[board.name]
    assert abi.arch == native and (abi.mpy_version, abi.sub_version) == (6, 3)
    assert mpy_arch.dist_arch(abi.arch) == native  # make flash installs the board's own build, each is built
    # the build these tests run on it (cortex-m7: armv7emsp, the RP2350's, which its armv7emdp loader accepts)
    assert mpy_arch.accepts(abi.arch, emuboard.BOARDS[board.name].arch)
    if board.name == "rv32imc":
        assert abi.arch_flags, "the qemu RV32 port reports its Zba extension"


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_heap_esp32_class(name, expected, report):
    """Import, load and a 3,000-character embed in a 100 KiB heap, file and ROMFS mode, the C core's code in RAM;
    then in file mode the default parity sample with the default load, whose page cache has sets of four ways
    on this heap (m2v/_load.py page_cache): the C core's four-way lookups against the reference."""
    need(name)
    sample = PARITY["default"][1]()
    image = emuboard.default_image(emuboard.BOARDS[name].arch, {"text3k.txt": TEXT_3K.encode(),
                                                                "default.jsonl": jsonl(sample)})
    ref = reference.load(MODEL)
    for mode in ("file", "buf"):  # a fresh board each: the import's heap is counted in both
        with emuboard.Board(name, image, heap=emuboard.HEAP_ESP32) as b:
            out = b.run_file(PROGRAMS / "heap.py", "/rom/model.m2v", "/rom/text3k.txt", mode)
            if mode == "file":
                par = b.run_file(PROGRAMS / "parity.py", "/rom/model.m2v", "file", "default", "/rom/default.jsonl")
                compare(par, sample, expected.crcs(sample), f"{name} parity file/default, 100 KiB heap", report)
                assert "impl tok=native pool=native tables=file" in par, par[-300:]
                assert "cache slots=64 ways=4" in par, par[-300:]
        assert out.strip().endswith("heap: ok"), out[-500:]
        fig = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", out)}
        assert fig["chars"] == 3000 and fig["v0"] == int(ref.embed(TEXT_3K)[0])
        report(
            f"{name} heap {emuboard.HEAP_ESP32 // 1024}K {'rom' if mode == 'buf' else mode}",
            f"import {fig['import']} B, load {fig['load']} B, embed 3,000 chars {fig['embed']} B, "
            f"free after {fig['free']} B",
        )


MIP_PROBE = """
import json, m2v, sys
m = m2v.load("/rom/model.m2v")
vs = [list(m.embed(t)) for t in {texts!r}]
print("@@" + json.dumps({{"mpy": sys.implementation._mpy, "impl": m.impl, "native": m2v.tok.native().__name__, "v": vs}}))
"""
MIP_TEXTS = ["turn on the kitchen lights", "naïve café — 3.14 😀 OK", ""]


def mip_files_embed(name: str, natives: tuple[str, ...] | None = None) -> tuple[str, str]:
    """The root package.json's files (``natives``: only these architectures' C cores) in /rom/lib/m2v of board ``name``.

    The board compiles the sources and embeds MIP_TEXTS, which must equal the reference in C (``model.impl``
    native); returns the board's architecture and the C core module it loaded.
    """
    from scripts import build_dist, mpy_arch

    urls = build_dist.sources_package()["urls"]
    if natives is not None:
        urls = [[t, u] for t, u in urls if t.removeprefix("m2v/_native_").removesuffix(".mpy") in natives or "_native_" not in t]
    files: dict[str, Path | bytes] = {f"lib/{t}": ROOT / u for t, u in urls}
    with emuboard.Board(name, emuboard.romfs_image({"model.m2v": MODEL, **files}, None)) as b:  # no package build
        out = b.exec(MIP_PROBE.format(texts=MIP_TEXTS))
    got = json.loads(out.split("@@", 1)[1])
    assert got["impl"]["tok"] == got["impl"]["pool"] == "native", got["impl"]
    ref = reference.load(MODEL)
    assert got["v"] == [[int(x) for x in ref.embed(t)] for t in MIP_TEXTS]
    return mpy_arch.decode(got["mpy"]).arch, got["native"]


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_mip_files_pick_the_boards_build(name, report):
    """The files the README's mip line installs (the root package.json: the sources and every architecture's C core)
    in /rom/lib/m2v: the board compiles the sources, loads the C core of its own architecture and embeds in C."""
    from scripts import mpy_arch

    need(name)
    arch, native = mip_files_embed(name)
    assert native == f"m2v._native_{mpy_arch.dist_arch(arch)}", (arch, native)
    report(f"{name} mip files ({arch})", f"{native} loaded, {len(MIP_TEXTS)} vectors equal to the reference")


def test_every_thumb_build_on_cortex_m7(report):
    """Each Thumb C core alone beside the sources on the emulated Cortex-M7 (an armv7emdp firmware, which loads
    every Thumb build): the loader falls back to it, and it embeds bit for bit."""
    from scripts import mpy_arch

    need("cortex-m7")
    thumb = [a for a in mpy_arch.ARCHS if a in mpy_arch.THUMB]
    for build in thumb:
        assert mip_files_embed("cortex-m7", (build,)) == ("armv7emdp", f"m2v._native_{build}"), build
    report("cortex-m7 Thumb C cores", f"{', '.join(thumb)}: each loaded and equal to the reference")


# ------------------------------------------------- the same programs on the unix port


def test_programs_run_unchanged_on_unix_port(tmp_path, expected, bad_models, report):
    """tests/device/*.py on the unix MicroPython with the package from source (no C core: the twins), same results."""
    from scripts.board import UnixBoard

    texts = py_texts()
    (tmp_path / "t.jsonl").write_bytes(jsonl(texts))
    with UnixBoard(heap="8M", rom={"model.m2v": MODEL}) as unix:  # the package on sys.path, the image at /rom

        def run(program: str, *argv: str) -> str:
            p = unix.run((PROGRAMS / program).read_text(), timeout=600, argv=[program, *argv])
            assert p.returncode == 0, (p.stdout + p.stderr)[-2000:]
            return p.stdout

        for mode, path in (("buf", "/rom/model.m2v"), ("file", str(MODEL))):
            out = run("parity.py", path, mode, "py", str(tmp_path / "t.jsonl"))
            compare(out, texts, expected.crcs(texts), f"unix parity.py {mode}/py", report)
            assert f"impl tok=py pool=py tables={mode}" in out
        bad = tmp_path / "bad"
        bad.mkdir()
        for n, (data, _) in bad_models.items():
            (bad / n).write_bytes(data)
        check_bad_models(run("bad_models.py", str(bad)), bad_models)
        (tmp_path / "t3k.txt").write_text(TEXT_3K)
        assert run("heap.py", str(MODEL), str(tmp_path / "t3k.txt"), "file").strip().endswith("heap: ok")


# ------------------------------------------------- make slow: everything on every board


@pytest.mark.slow
@pytest.mark.parametrize("name", BOARD_NAMES)
def test_everything_on_board(name, expected, report):
    need(name)
    groups = {"corpus": corpus(), "codepoints": codepoint_texts(), "fuzz": fuzz_texts(1500) + long_texts()}
    for g, texts in groups.items():  # a board per group: all three overflow cortex-m7's 16 MiB for the image
        want = expected.crcs(texts)
        image = emuboard.default_image(emuboard.BOARDS[name].arch, {f"data/{g}.jsonl": jsonl(texts)})
        with emuboard.Board(name, image) as b:
            for mode in ("buf", "file"):
                out = b.run_file(PROGRAMS / "parity.py", "/rom/model.m2v", mode, "native", f"/rom/data/{g}.jsonl")
                compare(out, texts, want, f"{name} {g} {'rom' if mode == 'buf' else mode}/native", report)

