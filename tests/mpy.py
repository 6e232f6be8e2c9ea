"""Run the device package on the real MicroPython unix port (the virtual board's interpreter): scripts/board.py's
UnixBoard, with the tests' parity runner (device_runner.py)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from scripts import board
from scripts.board import DEVICE, MODEL, ROOT, native_device  # noqa: F401  (the tests' names)

RUNNER = Path(__file__).resolve().parent / "device_runner.py"


# MicroPython source: a file object of Python (the model's or an index's file) that hands every call to
# the file it wraps; a test subclasses it and overrides readinto to fail or call back mid-read.
WRAPPED_FILE = r"""
class Wrapped:
    def __init__(s, f):
        s.f = f
    def seek(s, *a):
        return s.f.seek(*a)
    def tell(s):
        return s.f.tell()
    def read(s, *a):
        return s.f.read(*a)
    def readinto(s, b):
        return s.f.readinto(b)
    def close(s):
        s.f.close()
"""


def romfs_image(model: Path, out: Path) -> Path:
    """Build a ROMFS image holding model.m2v with mpremote's builder."""
    out.write_bytes(board.romfs_image({"model.m2v": model}))
    return out


def run_py(code: str, heapsize: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a MicroPython snippet with the device package on sys.path."""
    with board.UnixBoard(heap=heapsize) as b:
        return b.run(code, timeout=timeout)


def expected_impl(mode: str, impl: str) -> str:
    """The runner's last line for ``mode`` and ``impl``: the implementation each stage must have run.

    Both kinds read tables that are buffers as such and, in file mode, the others through the page cache.
    """
    return f"=tok={impl} pool={impl} tables={'file' if mode in ('file', 'filepart') else 'buf'}"


def _run_chunk(texts: list[str], mode: str, impl: str, src: Path, heapsize: str, device: Path = DEVICE) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        inp, outp = Path(d) / "in.jsonl", Path(d) / "out.txt"
        inp.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        with board.UnixBoard(heap=heapsize, device=device) as b:
            proc = b.run_script(RUNNER, mode, impl, str(src), str(inp), str(outp), timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"micropython failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")
        lines = outp.read_text().split("\n")[:-1]
    if len(lines) != len(texts) + 2:
        raise RuntimeError(f"device returned {len(lines) - 2} results for {len(texts)} texts")
    # model.impl: what actually ran (a selected core that silently fell back would show here)
    if lines[-1] != expected_impl(mode, impl):
        raise RuntimeError(f"device ran {lines[-1]!r}, asked for {expected_impl(mode, impl)!r}")
    loops = set(lines[-2].removeprefix("=loops=").split(",")) - {""}
    if loops - expected_loops(mode, impl) or texts and not loops & {"native", "py"}:
        raise RuntimeError(f"embeds driven by {sorted(loops)}, expected among {sorted(expected_loops(mode, impl))}")
    LOOPS.update(loops)
    return lines[:-2]


LOOPS: set[str] = set()  # every model.impl["loop"] run_device has seen (tests read it)


def expected_loops(mode: str, impl: str) -> set[str]:
    """What may drive the embeds: the native core's one-call embed when it runs both stages (every code
    point, normalisation and added token in C: no hand-over to tok.run), else tok.run."""
    return {"native"} if impl == "native" else {"py"}


def run_device(
    texts: list[str], mode: str = "rom", impl: str = "native", model: Path = MODEL, workers: int = 2,
    device: Path = DEVICE,
) -> list[tuple[list[int], np.ndarray] | str]:
    """Tokenise and embed ``texts`` on the unix port; one (ids, vector) or error string per text.

    Raises RuntimeError unless ``model.impl`` on the device shows that the asked-for implementation ran.
    ``device`` is the folder holding the ``m2v`` package.
    """
    with tempfile.TemporaryDirectory() as d:
        src = romfs_image(model, Path(d) / "image.romfs") if mode == "rom" else model
        if impl == "native" and device == DEVICE:
            device = native_device(Path(d) / "dev")
        heap = "8M" if mode in ("rom", "buf") else "2M"
        n = max(1, min(workers, os.cpu_count() or 1, len(texts)))
        chunks = [texts[i::n] for i in range(n)]
        with ThreadPoolExecutor(n) as ex:
            parts = list(ex.map(lambda c: _run_chunk(c, mode, impl, src, heap, device), chunks))
    out: list = [None] * len(texts)
    for i, part in enumerate(parts):
        for j, line in enumerate(part):
            if line.startswith("!"):
                out[i + j * n] = line[1:]
            else:
                ids, vec = line.split("|")
                out[i + j * n] = (
                    [int(x) for x in ids.split()],
                    np.array([int(x) for x in vec.split()], dtype=np.int16),
                )
    return out
