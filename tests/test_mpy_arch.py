"""scripts/mpy_arch.py: sys.implementation._mpy decoding, checked against mpy-cross's headers and the unix port."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts import build_dist, mpy_arch
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent

VIPER = "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x + 1\n"


# every MP_NATIVE_ARCH_* but rv64imc, which mpy-cross 1.28 knows by name but cannot emit ("invalid arch")
@pytest.mark.parametrize("arch", [a for a in mpy_arch.NATIVE_ARCHS if a and a != "rv64imc"])
def test_decode_matches_mpy_cross_headers(tmp_path, arch):
    """An .mpy's bytes 1-2 are the _mpy a board of its architecture reports (py/persistentcode.h)."""
    src = tmp_path / "v.py"
    src.write_text(VIPER)
    out = tmp_path / "v.mpy"
    subprocess.run(build_dist.mpy_cross() + [f"-march={arch}", "-o", str(out), str(src)], check=True)
    head = out.read_bytes()
    abi = mpy_arch.decode(head[1] | head[2] << 8)
    assert (abi.arch, abi.abi, abi.arch_flags) == (arch, "6.3", 0)
    assert mpy_arch.encode(arch) == head[1] | head[2] << 8


def test_decode_riscv_with_extension_flags():
    # rp2's RISC-V build: MICROPY_RV32_EXTENSIONS = ZBA | ZCMP, shifted to bit 16 (py/modsys.c)
    value = 6 | (3 | 11 << 2) << 8 | 3 << 16
    assert value == 0x32F06
    abi = mpy_arch.decode(value)
    assert (abi.arch, abi.abi, abi.arch_flags) == ("rv32imc", "6.3", 3)
    assert value >> 10 == 203  # without the mask: no architecture at all
    assert mpy_arch.dist_arch(abi.arch) == "rv32imc"  # mpy-cross's rv32imc .mpy carry no flags


def test_decode_refuses_garbage():
    with pytest.raises(ValueError, match="unknown native architecture 13"):
        mpy_arch.decode(6 | (3 | 13 << 2) << 8)
    with pytest.raises(ValueError):
        mpy_arch.decode(-1)
    assert mpy_arch.decode(6).arch is None  # a firmware without native code
    assert mpy_arch.decode(mpy_arch.encode("rv64imc")).arch == "rv64imc"


@pytest.mark.parametrize(
    ("board_arch", "best"),
    [("armv6m", "armv6m"), ("armv7m", "armv7m"), ("armv7em", "armv7m"), ("armv7emsp", "armv7emsp"),
     ("armv7emdp", "armv7emdp"), ("xtensawin", "xtensawin"), ("rv32imc", "rv32imc"), ("x64", "x64"),
     ("x86", None), ("armv6", None), ("xtensa", None), ("rv64imc", None), (None, None)],
)  # fmt: skip
def test_best_build_per_board(board_arch, best):
    assert mpy_arch.dist_arch(board_arch) == best
    if best:
        assert mpy_arch.accepts(board_arch, best)


def test_thumb_rule():
    assert mpy_arch.accepts("armv7emsp", "armv6m")
    assert mpy_arch.accepts("armv7emdp", "armv7emsp")
    assert not mpy_arch.accepts("armv6m", "armv7m")  # newer code on an older core
    assert not mpy_arch.accepts("armv7emsp", "armv7emdp")
    assert not mpy_arch.accepts("armv6", "armv6m")  # ARM (not Thumb) Linux: exact match only
    assert not mpy_arch.accepts("xtensawin", "xtensa")
    assert not mpy_arch.accepts(None, "x64")


def test_unix_port_reports_x64():
    p = UnixBoard(heap=None, device=None).run("import sys; print(sys.implementation._mpy)")
    assert p.returncode == 0, p.stderr
    abi = mpy_arch.decode(int(p.stdout))
    assert (abi.arch, abi.abi) == ("x64", "6.3")


# The package's C core lookup (m2v/_setup.py, native()) run on the unix port for every architecture a
# board can report: its sys.implementation._mpy and its imports stand in, the files it may import are
# those the root package.json installs (m2v/_native_<arch>.mpy for each of ARCHS). It prints, per
# _mpy value, the modules it tried and the one it took.
LOOKUP = """
import json, sys
from m2v import _setup, tok
installed = set({installed!r})
out = {{}}
for mpy in {values!r}:
    class Impl:
        _mpy = mpy
        version = sys.implementation.version
    class Sys:
        implementation = Impl
        modules = {{}}
    tried = []
    def imp(name):
        tried.append(name)
        if name not in installed:
            raise ImportError("no module named " + name)
        Sys.modules[name] = name  # what sys.modules holds once the import ran
    _setup.sys, _setup.__import__, tok.C = Sys, imp, None
    out[mpy] = [tried, _setup.native() or None]
_setup.sys, tok.C = sys, None
print(json.dumps(out))
"""


def test_loader_takes_the_best_build_the_board_loads():
    """On every architecture (Thumb ones included, no firmware needed) the lookup tries only builds the board
    loads, newest first, and takes dist_arch's: armv7em boards run armv7m, armv7emdp boards their own."""
    installed = [t[:-4].replace("/", ".") for t, _ in build_dist.sources_package()["urls"] if t.endswith(".mpy")]
    assert sorted(installed) == sorted(f"m2v._native_{a}" for a in mpy_arch.ARCHS)
    values = [mpy_arch.encode(a) for a in mpy_arch.NATIVE_ARCHS] + [0x32F06]  # + RP2350 RISC-V (extension flags)
    code = LOOKUP.format(installed=installed, values=values)
    p = UnixBoard(heap=None, device=ROOT / "device").run(code, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    got = json.loads(p.stdout.splitlines()[-1])
    assert len(got) == len(values)
    for value in values:
        tried, took = got[str(value)]
        arch = mpy_arch.decode(value).arch
        best = mpy_arch.dist_arch(arch)
        assert took == (f"m2v._native_{best}" if best else None), (arch, tried)
        assert tried[:2] == ["_m2v_native", "m2v._native"], (arch, tried)  # firmware's own, then make dist's
        builds = [n.rpartition("_native_")[2] for n in tried[2:]]
        assert all(mpy_arch.accepts(arch, b) for b in builds), (arch, tried)  # never one the board refuses
        if arch in mpy_arch.THUMB:  # the board's own first, then older ones
            assert builds == sorted(builds, key=mpy_arch.THUMB.index, reverse=True), (arch, tried)
    for arch in mpy_arch.THUMB:  # every Thumb board gets a build: armv6m's at worst
        assert got[str(mpy_arch.encode(arch))][1] is not None, arch
