"""scripts/board.py: one Board interface over the unix port, a serial board and the virtual board; m2v bench's suites."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import run_cli

from host_tools.__main__ import bench_runs, parser
from scripts import emuboard, vboard
from scripts.board import MODEL, ROOT, BoardError, SerialBoard, UnixBoard, open_board

PROBE = "import json, m2v\nm = m2v.load({path!r})\nm.embed('turn on the lights')\nprint('@@' + json.dumps(m.impl))\n"


def test_unix_board_runs_stages_and_raises(tmp_path):
    """exec returns the output; result the @@ object; a raise is a BoardError with the traceback; files are staged."""
    (tmp_path / "prog.py").write_text("import sys\nprint('argv', sys.argv[1:])\n")
    with open_board("unix", {"data/x.txt": b"staged"}) as b:
        assert isinstance(b, UnixBoard) and b.writable and b.instructions_per_tick() is None
        assert b.exec("print(6 * 7)") == "42\n"
        assert b.result(f"print('@@' + repr(open({b.root + '/data/x.txt'!r}).read()).replace(chr(39), chr(34)))") == (
            "staged"
        )
        # open_board("unix") is the unix port's build: the committed x64 C core, the default model staged
        assert b.result(PROBE.format(path=b.root + "/model.m2v")) == {"tok": "native", "pool": "native", "loop": "native"}
        assert b.run_file(tmp_path / "prog.py", "a", "b").strip() == "argv ['a', 'b']"
        with pytest.raises(BoardError, match="ValueError: no such thing"):
            b.exec("raise ValueError('no such thing')")
        with pytest.raises(BoardError, match="no @@ result line"):
            b.result("print('nothing')")
        root = b.root
    assert not Path(root).exists()  # close removed the folder


def test_unix_board_folders_argv_cwd_and_status(tmp_path):
    """run and run_script: several folders on sys.path in their order, sys.argv, the working folder, and the
    finished process (exit status, stdout, stderr) handed back."""
    for folder, names in (("a", ("which",)), ("b", ("which", "only_b"))):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / f"{name}.py").write_text(f"NAME = {folder!r}\n")
    prog = tmp_path / "prog.py"
    prog.write_text("import os, sys, which, only_b\nprint(which.NAME, only_b.NAME, sys.argv, os.getcwd())\n"
                    "print('to stderr', file=sys.stderr)\nsys.exit(5)\n")  # fmt: skip
    with UnixBoard(heap=None, device=[tmp_path / "a", tmp_path / "b"]) as b:
        for p in (b.run_script(prog, "x", "y", cwd=tmp_path),
                  b.run(prog.read_text(), cwd=tmp_path, argv=["prog.py", "x", "y"])):  # fmt: skip
            assert (p.returncode, p.stderr) == (5, "to stderr\n"), p
            assert p.stdout == f"a b ['prog.py', 'x', 'y'] {tmp_path}\n"


def test_unix_board_rom_and_raw_run():
    """A ROMFS image at /rom; run() gives the finished process as the tests' run_py does."""
    with UnixBoard(heap="2M", rom={"model.m2v": MODEL}) as b:
        assert b.result(PROBE.format(path="/rom/model.m2v"))["tok"] != "native"  # the sources alone: no C core
        p = b.run("import sys\nsys.exit(3)")
        assert p.returncode == 3


def test_virtual_and_serial_board(tmp_path):
    """The virtual board is a Board; its port, let go, serves a SerialBoard (a real board's route)."""
    with vboard.VirtualBoard(tmp_path / "b", "256K") as b:
        assert b.result("import json, sys\nprint('@@' + json.dumps(sys.platform))") == "linux"
        with pytest.raises(BoardError, match="ZeroDivisionError"):
            b.exec("1 / 0")
        b.release()
        with open_board(b.port) as s:
            assert isinstance(s, SerialBoard) and s.result("print('@@' + str(2 ** 10))") == 1024
    assert vboard.running_pid(tmp_path / "b") is None


def test_emulated_boards_are_serial_boards():
    """QemuBoard (the tests' emuboard.Board) shares SerialBoard's exec; files are read-only at /rom."""
    assert emuboard.Board is emuboard.QemuBoard and issubclass(emuboard.QemuBoard, SerialBoard)
    assert (emuboard.QemuBoard.root, emuboard.QemuBoard.writable) == ("/rom", False)
    with pytest.raises(BoardError, match="by make flash"):
        open_board("/dev/ttyACM9", {"x": b""})


def _bench(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["bench", *argv])


def test_bench_suites_one_entry_point():
    """m2v bench: one suite alone, or what make bench always ran; a suite asked of a board it does not run on fails."""
    assert [n for n, _ in bench_runs(_bench(), ROOT)] == ["bench", "bench_classifier", "bench_learn", "plot_bench"]
    assert bench_runs(_bench("--board", "rv32imc"), ROOT) == [
        ("bench_board", ["--board", "rv32imc"]), ("bench_learn", ["--board", "rv32imc"]), ("plot_bench", [])]  # fmt: skip
    assert bench_runs(_bench("--suite", "lock", "--board", "cortex-m7"), ROOT) == [("bench_lock", ["--board", "cortex-m7"])]
    assert bench_runs(_bench("--suite", "learn", "--suite-args", "--adds 30"), ROOT) == [
        ("bench_learn", ["--board", "unix", "--adds", "30"])]  # fmt: skip
    assert bench_runs(_bench("--suite", "classifier", "--py"), ROOT) == [("bench_classifier", ["--py"])]
    p = run_cli("bench", "--suite", "index", "--board", "cortex-m0")
    assert p.returncode == 2 and p.stderr.strip() == "error: --suite index runs on the unix port (no --board)"


def test_bench_index_suite_runs():
    """The smallest index suite through the entry point: a table row per mode."""
    p = run_cli("bench", "--suite", "index", "--suite-args", "--sizes 200 --queries 3", timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [line.split() for line in p.stdout.splitlines() if line.strip().startswith("200 ")]
    assert [r[1] for r in rows] == ["buf", "file"], p.stdout
