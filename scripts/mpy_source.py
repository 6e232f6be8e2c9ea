"""The MicroPython source tree the tests and board builds use (tools/manifestfile.py, ports/qemu, ...).

    from scripts.mpy_source import mpy_dir
    tools = mpy_dir() / "tools"

``MPY_DIR=/path/to/micropython`` names an unpacked checkout. Otherwise the
archive ``micropython-1.28.0-src.tar.gz`` is looked for in ``shared/micropython/``
beside the repository (``ROOT.parent / "shared"``) and unpacked once into
``build/micropython-1.28.0/``. The unpack goes into a fresh temporary folder
under ``build/`` that is renamed into place when complete, so a half-unpacked
tree is never seen; a lock file (scripts/build_lock.py) lets one process unpack
while another one that asks at the same moment (a parallel test worker) waits for it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from .build_lock import locked

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.28.0"
ARCHIVE = f"micropython-{VERSION}-src.tar.gz"
# written last into the unpacked tree: its presence says the unpack completed
_DONE = ".m2v-unpacked"


class MpySourceMissing(FileNotFoundError):
    """Neither MPY_DIR nor the source archive is there."""


def archive() -> Path:
    """Where the source archive is expected."""
    return ROOT.parent / "shared" / "micropython" / ARCHIVE


def how_to_get() -> str:
    """One line telling how to provide the source."""
    return (
        f"MicroPython v{VERSION} source not found: put {ARCHIVE} (git archive of tag v{VERSION}) in"
        f" {archive().parent}, or set MPY_DIR=<a micropython checkout>"
    )


def _unpack(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent))
    try:
        with tarfile.open(src) as tf:
            if hasattr(tarfile, "data_filter"):  # refuses absolute paths, .. and device files
                tf.extractall(tmp, filter="data")
            else:  # pragma: no cover - Python without PEP 706
                tf.extractall(tmp)
        tops = list(tmp.iterdir())
        # "git archive --prefix=micropython-1.28.0/" puts the tree one level down
        root = tops[0] if len(tops) == 1 and tops[0].is_dir() and not (tmp / "py").is_dir() else tmp
        (root / _DONE).write_text(f"{src}\n")
        try:
            os.rename(root, dest)
        except OSError:
            if not (dest / _DONE).is_file():  # not another process's finished tree: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mpy_dir() -> Path:
    """The MicroPython source tree: ``MPY_DIR``, or the archive unpacked once under build/.

    Raises MpySourceMissing (with :func:`how_to_get`'s line) when neither is there.
    """
    env = os.environ.get("MPY_DIR")
    if env:
        path = Path(env).expanduser().resolve()
        if not (path / "py").is_dir():
            raise MpySourceMissing(f"MPY_DIR={env}: not a MicroPython source tree (no py/ folder)")
        return path
    dest = ROOT / "build" / f"micropython-{VERSION}"
    if (dest / _DONE).is_file():
        return dest
    src = archive()
    if not src.is_file():
        raise MpySourceMissing(how_to_get())
    with locked(dest.parent / f".{dest.name}.lock"):
        if (dest / _DONE).is_file():  # unpacked by another process while this one waited
            return dest
        if dest.exists():  # not ours (ours are renamed in whole): replace it
            shutil.rmtree(dest)
        _unpack(src, dest)
    return dest


if __name__ == "__main__":
    try:
        print(mpy_dir())
    except MpySourceMissing as e:
        print(e, file=sys.stderr)
        sys.exit(2)
