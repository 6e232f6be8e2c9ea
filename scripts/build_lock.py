"""An exclusive lock around a build step that two processes may start at once.

    from scripts.build_lock import locked
    with locked(BUILD / "qemu" / ".cortex-m0.lock"):
        ...  # check the stamp, build if stale, use the result

The test suite runs in several pytest-xdist workers, and two of them can ask for the same
firmware, package build or unpacked source at the same moment (so can two ``make`` runs).
The lock is ``fcntl.flock`` on a lock file beside the build: the kernel drops it when the
holder exits, so a killed build never leaves a stale lock, and the next holder sees the
missing stamp and builds again. Inside one process the lock is re-entrant (a build step
that calls another one under the same lock does not wait on itself) and threads take it
in turn. Where there is no ``fcntl`` (Windows) only the threads of one process are
serialized: the parallel test suite and the emulated boards are POSIX-only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_GUARD = threading.Lock()
_LOCKS: dict[str, threading.RLock] = {}  # one per lock file: threads of this process take it in turn
_HELD: dict[str, tuple[int, int]] = {}  # lock file -> (its descriptor, depth) while this process holds it


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock ``path`` (created with its folder when missing) for the ``with`` body."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _GUARD:
        rlock = _LOCKS.setdefault(key, threading.RLock())
    with rlock:
        if key in _HELD:  # re-entered by the thread that holds it
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth + 1)
            try:
                yield
            finally:
                _HELD[key] = (fd, depth)
            return
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            _HELD[key] = (fd, 1)
            yield
        finally:
            _HELD.pop(key, None)
            os.close(fd)  # closing the descriptor releases the flock
