"""Custom firmware (docs/CUSTOM_FIRMWARE.md) on the emulated Cortex-M0, the RP2040's instruction set
(in make test), and on the other emulated boards (make slow).

The board's firmware is built the way the recipe says (scripts/emuboard.py, ``custom=True``): the C
core (device/native) as the user C module ``_m2v_native`` through ``USER_C_MODULES`` and
device/native/micropython.mk, and the package frozen through device/manifest.py. The package then
runs with no ``_native.mpy`` anywhere, twice: frozen, and as the .mpy build in the ROMFS image
without its C core (the route of a firmware that holds only the C module). Each runs the parity
sample in buffer (ROMFS) and file mode with the package's default choice, which must be the
built-in C core: 0 id and 0 vector mismatches. Then the heap the import takes next to the stock
firmware's, where the C core is the native .mpy whose machine code is copied into RAM. And that
device/native/micropython.cmake gives the CMake ports (rp2, esp32) the source and include folder
through MicroPython's own py/usermod.cmake: those ports are not built here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from mpy import MODEL
from test_emulated_boards import PROGRAMS, Expected, compare, emuboard, jsonl, need, py_texts, sample_texts

BOARD = "cortex-m0"  # in make test; the others in make slow
BOARDS = [BOARD] + [pytest.param(b, marks=pytest.mark.slow) for b in emuboard.BOARDS if b != BOARD]
# after parity.py: which C core ran, whether it is a module with a file (a native .mpy has one),
# and where the package came from (a frozen module's __file__ is relative)
TRAILER = """
C = m2v.tok.native()
print("core %s file=%s package=%s" % (C.__name__, hasattr(C, "__file__"), m2v.__file__))
"""
# the package on /rom/pkg ahead of the frozen one (the ROMFS image holds it there): written into the code
# run, not left to the board, because the one board runs both installs, this line alone telling them apart
ROMFS_FIRST = "import sys\nsys.path.insert(0, '/rom/pkg')\n"
# heap taken by importing the package and finding its C core; then the core's functions, and an
# error raised in C (its message compressed into the firmware, as ports/rp2 and esp32 do too)
IMPORT_HEAP = """
import gc
gc.collect()
f0 = gc.mem_free()
import m2v.tok
C = m2v.tok.native()
gc.collect()
print("import heap %d core %s" % (f0 - gc.mem_free(), C.__name__))
print("functions " + " ".join(sorted(k for k in dir(C) if not k.startswith("_"))))
try:
    C.zero(bytearray(4), 2)
except IndexError as e:
    print("error", e)
"""


def texts() -> list[str]:
    return py_texts() + sample_texts()


def package(arch: str) -> dict[str, bytes]:
    """The package's .mpy build for ``arch``, in the image at /rom/pkg/m2v, without its C core's build."""
    with emuboard.build_dist.locked(arch, emuboard.DIST):
        pkg = emuboard.package_mpy(arch)
        files = {f"pkg/m2v/{p.name}": p.read_bytes() for p in sorted(pkg.iterdir()) if not p.name.startswith("_native")}
        left_out = [p.name for p in pkg.iterdir() if p.name.startswith("_native")]
    assert left_out and "pkg/m2v/__init__.mpy" in files, (left_out, sorted(files))
    return files


@pytest.fixture(scope="module")
def expected() -> Expected:
    return Expected()


@pytest.fixture(scope="module", params=BOARDS)
def board(request):
    """A board running its custom firmware, the model, the sample and the .mpy package in its image."""
    name = request.param
    need(name)
    files = {"model.m2v": MODEL, "data/parity.jsonl": jsonl(texts()), **package(emuboard.BOARDS[name].arch)}
    with emuboard.Board(name, emuboard.romfs_image(files, None), custom=True) as b:
        yield b


@pytest.mark.parametrize("mode", ["buf", "file"])
@pytest.mark.parametrize("install", ["frozen", "romfs"])
def test_parity_with_builtin_core(board, expected, install, mode, report):
    sample = texts()
    board.reset()
    argv = ["parity.py", "/rom/model.m2v", mode, "default", "/rom/data/parity.jsonl"]
    code = f"import sys\nsys.argv[:] = {argv!r}\n" + (PROGRAMS / "parity.py").read_text() + TRAILER
    out, core = board.exec((ROMFS_FIRST if install == "romfs" else "") + code).rstrip().rsplit("\n", 1)
    label = f"{board.name} custom firmware ({install} package) parity {'rom' if mode == 'buf' else mode}"
    compare(out, sample, expected.crcs(sample), label, report)
    assert f"impl tok=native pool=native tables={mode}" in out, out[-300:]
    assert "loops native" in out, out[-300:]
    package = "m2v/__init__.py" if install == "frozen" else "/rom/pkg/m2v/__init__.mpy"
    assert core.strip() == f"core _m2v_native file=False package={package}", core


@pytest.mark.parametrize("board", [BOARD], indirect=True)
def test_builtin_core_against_native_mpy(board, report):
    """The built-in C core has the native .mpy's functions and errors; its machine code stays in flash
    where the native .mpy's is copied into the heap."""
    used = {}
    with emuboard.Board(BOARD, emuboard.default_image(board.spec.arch)) as stock:  # the package with its _native.mpy
        stock.reset()
        used["stock firmware, .mpy package with _native.mpy"] = stock.exec(IMPORT_HEAP)
    board.reset()
    used["custom firmware, .mpy package"] = board.exec(ROMFS_FIRST + IMPORT_HEAP)
    board.reset()
    used["custom firmware, frozen package"] = board.exec(IMPORT_HEAP)
    heap = {}
    for what, out in used.items():
        found = re.search(r"import heap (\d+) core (\S+)", out)
        assert found, out[-300:]
        heap[what] = int(found.group(1))
        report(f"{BOARD} heap after import m2v ({what})", f"{heap[what]} B, C core {found.group(2)}")
        assert "error m2v table index out of range" in out, out[-300:]
    functions = {re.search(r"functions (.*)", out).group(1).strip() for out in used.values()}
    assert len(functions) == 1 and "embed" in next(iter(functions)), functions
    elf = emuboard.firmware(BOARD, custom=True)
    text = _text_size(elf.parent / "native" / "m2v_native.o")
    stock_text, custom_text = _text_size(emuboard.firmware(BOARD)), _text_size(elf)
    report(f"{BOARD} firmware text: the C module", f"{text} B (the module and the frozen package: +{custom_text - stock_text} B)")
    saved = heap["stock firmware, .mpy package with _native.mpy"] - heap["custom firmware, .mpy package"]
    report(f"{BOARD} heap the built-in C core saves", f"{saved} B")
    assert saved >= text, "the native .mpy's machine code should have been the difference"


def _text_size(path: Path) -> int:
    """text + rodata of an object or ELF file (arm-none-eabi-size's first column)."""
    out = subprocess.run(["arm-none-eabi-size", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[1].split()[0])


# py/usermod.cmake as ports/rp2/CMakeLists.txt and ports/esp32/esp32_common.cmake include it: they
# compile MICROPY_SOURCE_USERMOD's files (and scan them for qstrs) with MICROPY_INC_USERMOD's folders
USERMOD_CMAKE = """
cmake_minimum_required(VERSION 3.13)
project(m2v_usermod_check NONE)
include(${MICROPY_DIR}/py/usermod.cmake)
message("sources=${MICROPY_SOURCE_USERMOD}")
message("includes=${MICROPY_INC_USERMOD}")
"""


@pytest.mark.parametrize("form", ["file", "folder"])
def test_cmake_ports_get_the_source(tmp_path, form, report):
    """USER_C_MODULES=.../micropython.cmake (or its folder) gives the CMake ports m2v_native.c and its folder."""
    need(BOARD)  # the MicroPython source
    try:
        emuboard.ensure_commands(("cmake",))
    except emuboard.ToolsMissing as e:
        if emuboard.in_ci():
            pytest.fail(f"cmake is required in CI: {e}")
        pytest.skip(str(e))
    native = emuboard.DEVICE / "native"
    (tmp_path / "CMakeLists.txt").write_text(USERMOD_CMAKE)
    modules = native / "micropython.cmake" if form == "file" else native
    cmd = ["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "build"), f"-DMICROPY_DIR={emuboard.mpy_dir()}",
           f"-DUSER_C_MODULES={modules}"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = p.stdout + p.stderr
    assert "Found User C Module(s): usermod_m2v_native" in out, out
    assert f"sources={native / 'm2v_native.c'}\n" in out and f"includes={native}\n" in out, out
    report(f"micropython.cmake through py/usermod.cmake ({form})", "m2v_native.c, device/native")
