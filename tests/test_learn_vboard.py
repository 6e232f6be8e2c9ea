"""Power loss while the board appends: the virtual board (unix port on a pty) killed during adds.

The board runs a loop of ``m2v.Index.add`` (entry e gets text e mod 40, so every entry's content is
known) and its interpreter is killed with SIGKILL at several points: the board's power cut. A kill
lands between write calls, so the loop also runs through a file whose writes reach the disk in
4-byte pieces (as a filesystem may write a slot), where a kill leaves a torn slot. After
each cut the file must read, on the host and on the restarted board, as the index after some whole
number of adds, byte for byte the host twin's, with any torn tail ignored; the next add then
continues it. The same cut at every byte of a slot is tests/test_learn_device.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from mpy import DEVICE, MODEL

from host_tools import index as hindex
from host_tools import reference
from scripts import flash

ROOT = Path(__file__).resolve().parent.parent

EX = ROOT / "examples" / "smart_home"
LOOP = """
import json, m2v
texts = json.load(open("adds.json"))


class Split:
    # a file that reaches the disk in 8-byte writes, as a filesystem may write a slot in pieces
    def __init__(self, f):
        self.f = f

    def write(self, b):
        mv = memoryview(b)
        for i in range(0, len(b), 4):
            self.f.write(mv[i : i + 4])
        return len(b)

    def readinto(self, b):
        return self.f.readinto(b)

    def read(self, *a):
        return self.f.read(*a)

    def seek(self, *a):
        return self.f.seek(*a)

    def tell(self):
        return self.f.tell()

    def flush(self):
        pass  # no fsync: a process kill loses nothing written, and the cut lands more often in a write

    def close(self):
        self.f.close()


idx = m2v.Index(Split(open("idx.m2vi", "r+b")) if SPLIT else "idx.m2vi", mode="file")
# split: the texts' vectors (the model's, equal to the host's) added, so the writes take a larger share of the time
items = [m2v.embed(t) for _, t in texts] if SPLIT else [t for _, t in texts]
while True:
    e = len(idx)
    idx.add(items[e % len(texts)], texts[e % len(texts)][0])
"""
CHECK = """
import json, m2v
idx = m2v.Index("idx.m2vi")
r = idx.search("switch the hall lights off", 5)
print("@@" + json.dumps({"n": len(idx), "torn": idx.torn, "r": r}))
"""


def interpreter_pid(d: Path) -> int:
    """The virtual board's MicroPython process: the child of its daemon."""
    daemon = int((d / ".vboard" / "pid").read_text())
    end = time.monotonic() + 10
    while time.monotonic() < end:
        kids = Path(f"/proc/{daemon}/task/{daemon}/children").read_text().split()
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise RuntimeError("the virtual board has no interpreter")


def restarted(d: Path, port: str, old: int) -> None:
    """Wait until the virtual board runs a new interpreter (it restarts a dead one) and shows its prompt."""
    from scripts import vboard

    end = time.monotonic() + 20
    while time.monotonic() < end and interpreter_pid(d) == old:
        time.sleep(0.05)
    vboard.wait_ready(port, timeout=10)


def test_board_killed_while_appending(board, tmp_path, report):
    port, d = board
    ref = reference.load(MODEL)
    shutil.copytree(DEVICE / "m2v", d / "lib" / "m2v")
    shutil.copy(MODEL, d / "model.m2v")
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    base = hindex.build_index(ref, items[::25], grow=True)
    (d / "idx.m2vi").write_bytes(base)
    texts = [[lab, t] for lab, t in items[3::8]][:40]
    (d / "adds.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    h = hindex.parse_header(base)
    slot_n = hindex.slot_size(h.dims, h.label_max)
    # an entry's record depends on its text alone, its CRC-32 on its place too
    recs = [hindex.entry_record(ref.embed(t), hindex.Index(base).center, h.score_shift) for _, t in texts]

    def slot(e: int) -> bytes:
        lab = texts[e % len(texts)][0]
        return hindex.slot_bytes(*recs[e % len(texts)], lab, h.label_max, hindex.slot_seed(h.crc32, e))

    twin_bytes = bytearray(base)
    outcomes = []
    for split, kill_after in [(0, 0.05), (0, 0.2), (0, 0.5), *((1, i / 100) for i in (1, 2, 3, 4, 6, 8))]:
        size0 = (d / "idx.m2vi").stat().st_size
        code = f"SPLIT = {split}\n" + LOOP
        loop = subprocess.Popen(flash.mpremote_exe() + ["connect", port, "resume", "exec", code],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        end = time.monotonic() + 60
        while time.monotonic() < end and (d / "idx.m2vi").stat().st_size <= size0:
            time.sleep(0.01)
        time.sleep(kill_after)
        pid = interpreter_pid(d)
        os.kill(pid, signal.SIGKILL)  # the power cut
        loop.kill()
        loop.wait()
        restarted(d, port, pid)
        data = (d / "idx.m2vi").read_bytes()
        host = hindex.Index(data, model=ref)  # never unreadable
        while len(twin_bytes) < len(base) + (host.count - h.count) * slot_n:  # the twin's same adds
            twin_bytes += slot(h.count + (len(twin_bytes) - len(base)) // slot_n)
        committed = len(data) - host.torn
        assert data[:committed] == bytes(twin_bytes), "a committed entry differs from the host twin's"
        on_board = flash.board_json(port, CHECK, timeout=60)
        want = host.search("switch the hall lights off", 5)
        assert on_board["n"] == host.count and on_board["torn"] == host.torn
        assert [tuple(x) for x in on_board["r"]] == want
        how = "4-byte writes" if split else "one write per slot"
        outcomes.append(f"{how}, {kill_after} s: {host.count - h.count} adds committed, torn tail {host.torn} B")
    flash.board_exec(port, "import m2v\nm2v.Index('idx.m2vi').add('lights off in the hall', 'lights_off')")
    twin = hindex.Index(bytes(twin_bytes), model=ref)
    twin.add("lights off in the hall", "lights_off")
    v, m = hindex.entry_record(ref.embed("lights off in the hall"), twin.center, h.score_shift)
    twin_bytes += hindex.slot_bytes(v, m, "lights_off", h.label_max, hindex.slot_seed(h.crc32, twin.count - 1))
    assert (d / "idx.m2vi").read_bytes() == bytes(twin_bytes)  # the next add continues it (over any torn tail)
    report("virtual board killed while appending", "; ".join(outcomes) + f" (slot {slot_n} B); then one more add")


def test_enrol_example_on_virtual_board(board, tmp_path):
    """examples/enrol/enrol.py on the virtual board: it enrols, recognises, and the host agrees on every phrasing."""
    port, d = board
    shutil.copytree(DEVICE / "m2v", d / "lib" / "m2v")
    shutil.copy(MODEL, d / "model.m2v")
    proc = subprocess.run(
        [sys.executable, "-m", "examples.enrol.enrol", "--port", port, "--k", "1", "--limit", "12",
         "--out", str(tmp_path / "c.m2vi")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "board vs host: 0 mismatches (labels, scores) over 24 phrasings" in proc.stderr
    assert (tmp_path / "c.m2vi").read_bytes() == (d / "commands.m2vi").read_bytes()
