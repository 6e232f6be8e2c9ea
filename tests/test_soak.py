"""A long run on an emulated board with an ESP32-class heap (100 KiB): embeds, searches and predictions.

tests/device/soak.py loads the model in place from ROMFS and an index (200 corpus texts) and the
smart-home classifier streamed from files, then runs rounds of embed_into, Index.search (k=3) and
Classifier.predict on texts in turn (multilingual corpus rows and smart-home phrasings), checking
each result against the host (host_tools.reference, host_tools.index.Index,
host_tools.classifier.Classifier: vectors through their CRC-32s) and sampling gc.mem_free() after
gc.collect() after every pass over the texts: no result may differ, no call may raise, and the free heap must stay
flat within 1 KiB. ``make test``: 1,000 rounds (3,000 calls) on the Cortex-M0 and 200 rounds of the same
program on the unix port; ``-m slow``: 5,000 rounds (15,000 calls) on the Cortex-M0.
"""

from __future__ import annotations

import json
import os
import re
import zlib

import numpy as np
import pytest
from mpy import DEVICE, MODEL, ROOT
from test_emulated_boards import PROGRAMS, need

from host_tools import classifier as hc
from host_tools import index as hindex
from host_tools import reference
from scripts import emuboard
from scripts.board import UnixBoard

CORPUS = ROOT / "tests" / "corpus" / "multilingual.jsonl"
EX = ROOT / "examples" / "smart_home"
BOARD = "cortex-m0"


@pytest.fixture(scope="module")
def soak_files(tmp_path_factory) -> dict[str, bytes]:
    """soak.json (texts and the host's results), soak.m2vi and soak.m2vc."""
    ref = reference.load(MODEL)
    rows = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    index = hindex.build_index(ref, [(t, f"row {i}") for i, t in enumerate(rows[:200])])
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    clf = hc.train(ref, items, c=30.0, reject=0.1)
    held = [t for _, t in hindex.read_items(EX / "heldout.jsonl", need_label=True)]
    texts = [t for t in rows[::97] if len(t) < 160][:14] + held[:8] + ["", "lights!!! ON — now, s'il vous plaît"]
    hi, hcl = hindex.Index(index, model=ref), hc.Classifier(clf, model=ref)
    want = {
        "texts": texts,
        "crc": [zlib.crc32(np.asarray(ref.embed(t), dtype="<i2").tobytes()) for t in texts],
        "search": [[[int(s), lb] for s, lb in hi.search(t, 3)] for t in texts],
        "predict": [[lb, int(s)] for lb, s in (hcl.predict(t) for t in texts)],
    }
    return {"soak.json": json.dumps(want).encode(), "soak.m2vi": index, "soak.m2vc": clf}


def check(out: str, rounds: int, report, where: str) -> None:
    m = re.search(r"soak: (\d+) calls, (\d+) wrong, (\d+) errors\s+heap: free min (\d+) max (\d+)", out)
    assert m, out[-1500:]
    calls, wrong, errors, lo, hi = map(int, m.groups())
    report(f"soak {where}: {calls} calls", f"{wrong} wrong, {errors} errors, free heap {lo}..{hi} B")
    assert (calls, wrong, errors) == (3 * rounds, 0, 0), out[-1500:]
    assert 0 < lo and hi - lo <= 1024, f"free heap not flat: {lo}..{hi}"


def test_soak_unix_port(tmp_path, soak_files, report):
    """The same program on the unix port (the package's source), 200 rounds."""
    for name, data in soak_files.items():
        (tmp_path / name).write_bytes(data)
    os.symlink(MODEL, tmp_path / "model.m2v")
    with UnixBoard(heap="256K", device=DEVICE) as b:
        p = b.run_script(PROGRAMS / "soak.py", "200", cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    check(p.stdout, 200, report, "unix 256K")


def run_board(files: dict[str, bytes], rounds: int) -> str:
    image = emuboard.default_image(emuboard.BOARDS[BOARD].arch, files)
    with emuboard.Board(BOARD, image, heap=emuboard.HEAP_ESP32) as b:
        return b.run_file(PROGRAMS / "soak.py", str(rounds), timeout=3600)


def test_soak_cortex_m0_100k_heap(soak_files, report):
    need(BOARD)
    check(run_board(soak_files, 1000), 1000, report, f"{BOARD} heap {emuboard.HEAP_ESP32 // 1024}K")


@pytest.mark.slow
def test_soak_cortex_m0_100k_heap_long(soak_files, report):
    need(BOARD)
    check(run_board(soak_files, 5000), 5000, report, f"{BOARD} heap {emuboard.HEAP_ESP32 // 1024}K long")
