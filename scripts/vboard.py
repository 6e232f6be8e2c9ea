"""Virtual MicroPython board: the unix port's REPL on a pseudo-terminal.

    python -m scripts.vboard start --dir build/vboard [--heap 256K]   # prints the port
    mpremote connect $(cat build/vboard/.vboard/port) resume exec "print(1+1)"
    python -m scripts.vboard stop --dir build/vboard

DIR is the board's filesystem root: the interpreter runs with DIR as its working
directory and DIR/lib on sys.path (like /lib on a real board). The unix port
sees absolute paths as host paths, so files on the virtual board are addressed
relative to DIR: "model.m2v", "lib/m2v/...". m2v.load() looks for the relative
"model.m2v" after "/rom/model.m2v" and "/model.m2v".

A small daemon bridges two ptys: the interpreter owns the slave of one (its
controlling terminal; a Ctrl-C from the client also signals it while it runs
code, so mpremote can interrupt a program as on a real board);
clients (mpremote, a terminal) open the slave of the other, whose path is the
port. The interpreter is restarted when it exits (Ctrl-D in the friendly REPL,
sys.exit(), a crash), like a board reset. Control files live in DIR/.vboard/:
port (path of the pty), pid (daemon), log.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from .board import SerialBoard, micropython

ROOT = Path(__file__).resolve().parent.parent


def ctl(d: Path) -> Path:
    return d / ".vboard"


def _alive(pid: int) -> bool:
    try:  # reap it if it is our child (start() called in this process), else a zombie looks alive
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(d: Path) -> int | None:
    try:
        pid = int((ctl(d) / "pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _raw(fd: int) -> None:
    tty.setraw(fd)  # no echo, no line editing, no \n -> \r\n: bytes pass unchanged


class _Interpreter:
    def __init__(self, d: Path, heap: str):
        self.d, self.heap = d, heap
        self.proc: subprocess.Popen | None = None
        self.mfd = -1

    def spawn(self) -> None:
        m, s = os.openpty()
        _raw(s)
        env = dict(os.environ)
        env["MICROPYPATH"] = ":" + str(self.d / "lib") + ":.frozen"
        env.pop("PYTHONPATH", None)

        def child() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [micropython(), "-X", "heapsize=" + self.heap],
            stdin=s, stdout=s, stderr=s, cwd=str(self.d), env=env,
            preexec_fn=child, close_fds=True,
        )  # fmt: skip
        os.close(s)
        os.set_blocking(m, False)
        self.mfd = m
        log(f"micropython pid {self.proc.pid} (heap {self.heap})")

    def interrupt(self) -> None:
        # Ctrl-C from the client. The unix port keeps its tty raw while the raw REPL
        # runs code, so the byte alone never interrupts it; a real board's UART
        # does. Signal it, but only while it has a SIGINT handler installed (it
        # is running code): when idle the handler is SIG_DFL and SIGINT would kill it.
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                caught = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
        except (OSError, StopIteration, ValueError):
            return
        if caught & (1 << (signal.SIGINT - 1)):
            os.kill(self.proc.pid, signal.SIGINT)

    def reap(self) -> None:
        if self.mfd >= 0:
            os.close(self.mfd)
            self.mfd = -1
        if self.proc:
            self.proc.wait()
            log(f"micropython exited ({self.proc.returncode}); restarting")
            self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def serve(d: Path, heap: str) -> None:
    c = ctl(d)
    # Client side: we keep our own handle on the slave so the master never sees a
    # hang-up when mpremote disconnects.
    cm, cs = os.openpty()
    _raw(cs)
    port = os.ttyname(cs)
    os.set_blocking(cm, False)
    board = _Interpreter(d, heap)
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    board.spawn()
    (c / "pid").write_text(str(os.getpid()))
    (c / "port").write_text(port)
    log(f"port {port}")
    to_board = bytearray()
    to_client = bytearray()
    try:
        while not stop:
            if board.proc is not None and board.proc.poll() is not None:
                # drain what it printed last, then restart ("reset")
                try:
                    while True:
                        b = os.read(board.mfd, 65536)
                        if not b:
                            break
                        to_client += b
                except OSError:
                    pass
                board.reap()
                to_board.clear()
                board.spawn()
            rl = [cm, board.mfd]
            wl = ([board.mfd] if to_board else []) + ([cm] if to_client else [])
            try:
                r, w, _ = select.select(rl, wl, [], 0.2)
            except InterruptedError:
                continue
            try:
                if cm in r:
                    data = os.read(cm, 65536)
                    if b"\x03" in data:
                        board.interrupt()
                    to_board += data
                if board.mfd in r:
                    to_client += os.read(board.mfd, 65536)
                if board.mfd in w:
                    del to_board[: os.write(board.mfd, to_board)]
                if cm in w:
                    del to_client[: os.write(cm, to_client)]
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno != errno.EIO:  # EIO: the interpreter's side closed (it exited)
                    raise
                time.sleep(0.05)
            if len(to_client) > 1 << 20:  # nobody is reading: keep the last 64 KiB
                del to_client[: len(to_client) - (1 << 16)]
    finally:
        board.kill()
        for name in ("pid", "port"):
            try:
                (c / name).unlink()
            except OSError:
                pass
        log("stopped")


def start(d: Path, heap: str, timeout: float = 10) -> str:
    d = d.resolve()
    d.mkdir(parents=True, exist_ok=True)
    c = ctl(d)
    c.mkdir(exist_ok=True)
    pid = running_pid(d)
    if pid:
        return (c / "port").read_text()
    for name in ("pid", "port"):
        (c / name).unlink(missing_ok=True)
    logf = open(c / "log", "ab")
    # the daemon: this module run with -m, from the folder that holds its package (the clone, or site-packages)
    top = Path(__file__).resolve().parents[__spec__.name.count(".")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(top), os.environ.get("PYTHONPATH"))))}
    subprocess.Popen(
        [sys.executable, "-m", __spec__.name, "_serve", "--dir", str(d), "--heap", heap],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True, close_fds=True, env=env,
    )  # fmt: skip
    logf.close()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (c / "port").exists() and running_pid(d):
            port = (c / "port").read_text()
            wait_ready(port)
            return port
        time.sleep(0.05)
    raise SystemExit(f"vboard: did not start; see {c / 'log'}")


def wait_ready(port: str, timeout: float = 5) -> None:
    # Wait for the REPL prompt so the first mpremote command does not race the banner.
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        end = time.monotonic() + timeout
        buf = b""
        os.write(fd, b"\r")
        while time.monotonic() < end and b">>> " not in buf:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except BlockingIOError:
                    pass
    finally:
        os.close(fd)


def stop(d: Path, timeout: float = 10) -> bool:
    d = d.resolve()
    pid = running_pid(d)
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    for name in ("pid", "port"):
        (ctl(d) / name).unlink(missing_ok=True)
    return True


class VirtualBoard(SerialBoard):
    """A virtual board (``start``) as a ``Board`` (scripts/board.py): its folder ``dir`` is the board's root;
    the port is free for mpremote until ``exec`` opens it; ``close`` stops the board."""

    name = "vboard"

    def __init__(self, d: Path, heap: str = "256K") -> None:
        self.dir = d
        super().__init__(start(d, heap), name="vboard")
        self.root = "."  # the interpreter's working directory is d

    def close(self) -> None:
        """Let the port go and stop the board."""
        self.release()
        stop(self.dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["start", "stop", "status", "_serve"])
    ap.add_argument("--dir", default="build/vboard", type=Path, help="board filesystem root")
    ap.add_argument("--heap", default="256K", help="MicroPython heap size, e.g. 256K, 2M")
    a = ap.parse_args(argv)
    if a.cmd == "_serve":
        serve(a.dir.resolve(), a.heap)
    elif a.cmd == "start":
        print(start(a.dir, a.heap))
    elif a.cmd == "stop":
        print("stopped" if stop(a.dir) else "not running")
    else:
        pid = running_pid(a.dir.resolve())
        if not pid:
            print("not running")
            return 1
        print((ctl(a.dir.resolve()) / "port").read_text(), "pid", pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
