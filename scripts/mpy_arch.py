"""Which native-code architecture a board runs, and which of our builds it can load.

    decode(sys_implementation_mpy) -> BoardABI     # what the board reports
    accepts(board_arch, code_arch) -> bool         # would it import that .mpy?
    dist_arch(board_arch) -> str | None            # the best build of ARCHS for it

``sys.implementation._mpy`` (py/modsys.c, py/persistentcode.h in MicroPython
v1.28) is ``MPY_VERSION | (sub_version | arch << 2) << 8 | arch_flags << 16``:
bits 0-7 the .mpy version (6), bits 8-9 the native ABI sub-version (3 since
v1.23), bits 10-13 the ``MP_NATIVE_ARCH_*`` number, and on RISC-V from bit 16
the instruction-set extensions the firmware's emitter may use (``RV32_EXT_ZBA``
= 1, ``RV32_EXT_ZCMP`` = 2; rp2's RP2350 RISC-V build sets both). The
architecture therefore needs the mask: ``(mpy >> 10) & 0x0F``.

The loader (``mp_raw_code_load``) accepts native code of exactly the board's
architecture, except on Thumb cores, where code of any ARM Thumb architecture
from armv6m up to the board's own loads (``MPY_FEATURE_ARCH_TEST``): armv6m
code runs on armv7m, armv7em, armv7emsp and armv7emdp boards. A RISC-V .mpy
without extension flags (what mpy-cross writes by default) loads on every
rv32imc board.

Plain functions of integers and strings, so they can be checked against any
board, real or emulated, that reports its ``_mpy``.
"""

from __future__ import annotations

from typing import NamedTuple

# MP_NATIVE_ARCH_* in order (py/persistentcode.h); index 0 is MP_NATIVE_ARCH_NONE.
NATIVE_ARCHS: tuple[str | None, ...] = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)  # fmt: skip
# Thumb architectures, oldest first: each loads the code of those before it.
THUMB = ("armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp")
# The architectures of the C core (scripts/build_native.py, `make native`) and of the package's
# builds (scripts/build_dist.py, `make dist`, make flash's choice); the root package.json carries
# the C core of each. Defined here only: the Makefile, the builds and the tests read it.
ARCHS = ("armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc", "x64")
RV32_EXTENSIONS = {1: "zba", 2: "zcmp"}


class BoardABI(NamedTuple):
    """What a board's ``sys.implementation._mpy`` says."""

    mpy_version: int  # 6 for MicroPython v1.19 and later
    sub_version: int  # native ABI: 3 since v1.23 (.mpy "6.3")
    arch: str | None  # None: the firmware cannot load native code
    arch_flags: int  # RISC-V extensions (RV32_EXTENSIONS bits), 0 elsewhere
    value: int  # the _mpy value itself

    @property
    def abi(self) -> str:
        """``"6.3"``: the suffix of the dist folders that suit this board."""
        return f"{self.mpy_version}.{self.sub_version}"


def decode(mpy: int) -> BoardABI:
    """Decode ``sys.implementation._mpy``; an architecture number this table lacks raises ValueError."""
    if not isinstance(mpy, int) or mpy < 0:
        raise ValueError(f"sys.implementation._mpy must be a non-negative int, not {mpy!r}")
    n = (mpy >> 10) & 0x0F
    if n >= len(NATIVE_ARCHS):
        raise ValueError(f"unknown native architecture {n} in sys.implementation._mpy = {mpy:#x}")
    return BoardABI(mpy & 0xFF, (mpy >> 8) & 3, NATIVE_ARCHS[n], mpy >> 16, mpy)


def encode(arch: str | None, mpy_version: int = 6, sub_version: int = 3, arch_flags: int = 0) -> int:
    """The ``_mpy`` value a firmware for ``arch`` reports (the inverse of :func:`decode`)."""
    return mpy_version | (sub_version | NATIVE_ARCHS.index(arch) << 2) << 8 | arch_flags << 16


def accepts(board_arch: str | None, code_arch: str) -> bool:
    """Tell whether a board of ``board_arch`` imports an .mpy with native code for ``code_arch``."""
    if board_arch is None:
        return False
    if board_arch in THUMB and code_arch in THUMB:
        return THUMB.index(code_arch) <= THUMB.index(board_arch)
    return code_arch == board_arch


def dist_arch(board_arch: str | None, built: tuple[str, ...] = ARCHS) -> str | None:
    """The build for a board: its own architecture if ``built`` has it, else the newest Thumb one it loads.

    None when no build in ``built`` suits the board (x86, armv6, xtensa,
    rv64imc, or a firmware without native code).
    """
    if board_arch in built:
        return board_arch
    if board_arch in THUMB:
        older = [a for a in built if a in THUMB and accepts(board_arch, a)]
        if older:
            return max(older, key=THUMB.index)
    return None
