"""scripts/mpy_arch.py: sys.implementation._mpy decoding, checked against mpy-cross's headers and the unix port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mpy import micropython

from scripts import build_dist, mpy_arch

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
    [("armv6m", "armv6m"), ("armv7m", "armv6m"), ("armv7em", "armv6m"), ("armv7emsp", "armv7emsp"),
     ("armv7emdp", "armv7emsp"), ("xtensawin", "xtensawin"), ("rv32imc", "rv32imc"), ("x64", "x64"),
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
    p = subprocess.run([micropython(), "-c", "import sys; print(sys.implementation._mpy)"],
                       capture_output=True, text=True, check=True)  # fmt: skip
    abi = mpy_arch.decode(int(p.stdout))
    assert (abi.arch, abi.abi) == ("x64", "6.3")
