"""Index files on the host: the ``index`` command, the file format, the numpy search and its bounds."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from host_tools import index as hindex

ROOT = Path(__file__).resolve().parent.parent

TEXTS = [
    "turn on the kitchen lights",
    "switch off the bedroom lamp",
    "what's the weather like tomorrow",
    "set a timer for ten minutes",
    "play some jazz in the living room",
]


@pytest.fixture
def small(tmp_path, ref):
    path = tmp_path / "small.m2vi"
    path.write_bytes(hindex.build_index(ref, [(t, t) for t in TEXTS]))
    return path


def test_cli_text_and_jsonl(tmp_path, cli, model_bin):
    txt = tmp_path / "t.txt"
    txt.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    out = tmp_path / "a" / "t.m2vi"
    proc = cli("index", model_bin, txt, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "5 entries" in proc.stderr
    idx = hindex.Index(out, model=model_bin)
    assert idx.count == 5 and idx.labels == TEXTS
    assert idx.search("lights on in the kitchen", k=1)[0][1] == TEXTS[0]

    jl = tmp_path / "t.jsonl"
    jl.write_text("".join(json.dumps({"label": "L" + str(i % 2), "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    proc = cli("index", model_bin, jl, "-o", out)
    assert proc.returncode == 0, proc.stderr
    idx = hindex.Index(out, model=model_bin)
    assert idx.header.n_labels == 2 and [idx.label(i) for i in range(5)] == ["L0", "L1", "L0", "L1", "L0"]
    assert not [p for p in out.parent.iterdir() if p.name != "t.m2vi"]  # no temp file left


@pytest.mark.parametrize(
    "content, name, message",
    [
        (None, "missing.txt", "no such file"),
        (b"", "e.txt", "no texts"),
        (b"\n  \n", "e.txt", "no texts"),
        (b"\xff\xfe bad", "b.txt", "not UTF-8"),
        (b'{"text": "a"}\n{"text": 3}\n', "j.jsonl", 'j.jsonl:2: expected an object with a string "text"'),
        (b'{"text": "a"}\n{oops\n', "j.jsonl", "j.jsonl:2: invalid JSON"),
        (b'{"text": "a", "label": 1}\n', "j.jsonl", '"label" must be a string'),
    ],
)
def test_cli_bad_input_one_line_error(tmp_path, cli, model_bin, content, name, message):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.m2vi"
    out.write_bytes(b"previous")
    proc = cli("index", model_bin, src, "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert out.read_bytes() == b"previous"  # untouched


def test_cli_bad_model(tmp_path, cli):
    src = tmp_path / "t.txt"
    src.write_text("hello\n")
    bad = tmp_path / "m.m2v"
    bad.write_bytes(b"nope" * 40)
    proc = cli("index", bad, src, "-o", tmp_path / "o.m2vi")
    assert proc.returncode == 2 and proc.stderr.startswith("error: not an m2v model")


def test_header_layout(small, ref):
    data = small.read_bytes()
    h = hindex.parse_header(data)
    assert data[:4] == b"M2VI" and struct.unpack_from("<HH", data, 4) == (1, 64)
    assert h.file_size == len(data) and h.crc32 == zlib.crc32(data[16:])
    assert (h.dims, h.count, h.n_labels, h.out_shift) == (256, 5, 5, 14)
    assert h.model_crc32 == ref.header.crc32
    assert struct.unpack_from("<H", data, 58)[0] == h.dims + 2
    for off in (h.center_off, h.entries_off, h.label_ids_off, h.label_offs_off, h.labels_off):
        assert off % 4 == 0
    assert h.score_shift >= hindex.min_score_shift(h.dims)


def test_deterministic(ref):
    items = [(t, t) for t in TEXTS]
    assert hindex.build_index(ref, items) == hindex.build_index(ref, items)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-4], "truncated m2v index"),
        (lambda b: b + b"\0\0\0\0", "trailing data"),
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: b[:4] + b"\x03\x00" + b[6:], "unsupported m2v index version 3; this reader supports 1, 2"),
        (lambda b: b[:200] + bytes([b[200] ^ 1]) + b[201:], "CRC-32 mismatch"),
        (lambda b: b[:30], "shorter than the 64-byte header"),
    ],
)
def test_corrupt_files_rejected(small, mutate, message):
    with pytest.raises(ValueError, match=message):
        hindex.Index(mutate(small.read_bytes()))


def test_scores_approximate_cosine(ref, corpus):
    """Scores / 2**(28 - score_shift) stay within 0.01 of the exact Q14 cosine over 2,000 entries."""
    texts = corpus[::5][:2000]
    idx = hindex.Index(hindex.build_index(ref, [(str(i), t) for i, t in enumerate(texts)]), model=ref)
    e = ref.embed_batch(texts).astype(np.float64)
    for qt in corpus[1::97][:30]:
        q = ref.embed(qt).astype(np.float64)
        exact = (e @ q) / 2**28
        approx = np.array([idx.cosine(int(s)) for s in idx.scores(qt)])
        assert np.abs(approx - exact).max() < 0.01


def test_ties_and_vectors(small, ref):
    idx = hindex.Index(small, model=ref)
    zero = idx.search_ids([0] * 256, k=5)
    assert zero == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]
    with pytest.raises(ValueError, match="256 integers"):
        idx.search([1, 2, 3])
    with pytest.raises(ValueError, match="int16"):
        idx.search([40000] + [0] * 255)
    with pytest.raises(ValueError, match="too large"):
        idx.search([32767] * 256)
    with pytest.raises(ValueError, match="k must be"):
        idx.search("x", k=0)
    assert len(idx.search("lights", k=50)) == 5


def test_bounds_hold_for_unit_queries():
    """Any Q14 unit vector passes the L1 check for every dims the format allows (FORMAT.md index §4)."""
    for d in (1, 2, 3, 64, 256, 257, 1000, 4096):
        t = hindex.min_score_shift(d)
        assert np.sqrt(d) * 16417 <= hindex.l1_limit(d, 16400, t)
        # the worst partial sum: 127 * L1 + L1 * 16400 / 2**t + d < 2**30
        l1 = hindex.l1_limit(d, 16400, t)
        assert 127 * l1 + l1 * 16400 / 2**t + d < 2**30


def test_model_mismatch_refused(small, model_bin):
    assert hindex.Index(small, model=model_bin).search("lamp", k=1)
    data = bytearray(small.read_bytes())
    struct.pack_into("<I", data, 24, 0x12345678)
    struct.pack_into("<I", data, 12, zlib.crc32(data[16:]))
    with pytest.raises(ValueError, match="built with model crc32 12345678"):
        hindex.Index(bytes(data), model=model_bin).search("lamp")


def test_smart_home_example_on_host(ref, tmp_path):
    """The example's index builds; held-out phrasings (never in the index) find their intent >= 80 % top-1."""
    ex = ROOT / "examples" / "smart_home"
    items = hindex.read_items(ex / "intents.jsonl")
    held = hindex.read_items(ex / "heldout.jsonl")
    assert len(items) >= 300 and len({lab for lab, _ in items}) >= 12
    assert not {t for _, t in items} & {t for _, t in held}
    idx = hindex.Index(hindex.build_index(ref, items), model=ref)
    tops = idx.search_ids_batch([t for _, t in held], 1)
    acc = np.mean([idx.label(r[0][1]) == lab for r, (lab, _) in zip(tops, held)])
    assert acc >= 0.8


@pytest.mark.slow
def test_smart_home_deploy_on_virtual_board(tmp_path):
    """make flash + examples/smart_home/deploy.py on a virtual board: 0 board/host differences (index, classifier)."""
    import subprocess
    import sys

    from scripts import flash, vboard

    d = tmp_path / "board"
    port = vboard.start(d, "256K")
    try:
        flash.flash(port, ROOT / "firmware_assets" / "model.m2v", "x64", dist=tmp_path / "dist", log=lambda s: None)
        p = subprocess.run(
            [sys.executable, "-m", "examples.smart_home.deploy", "--port", port,
             "--index", str(tmp_path / "intents.m2vi"), "--classifier", str(tmp_path / "intents.m2vc")],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        vboard.stop(d)
    assert p.returncode == 0, p.stderr[-2000:] + p.stdout[-2000:]
    assert "board vs host search: 0 mismatches" in p.stdout
    assert "board vs host classifier: 0 mismatches" in p.stdout


def test_grow_cli_and_bounds(tmp_path, cli, model_bin, ref):
    """``index --grow`` writes version 2; its score shift lets any Q14 unit vector be appended (FORMAT.md §6)."""
    txt = tmp_path / "t.txt"
    txt.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "g.m2vi"
    proc = cli("index", model_bin, txt, "-o", out, "--grow", "--label-max", "40")
    assert proc.returncode == 0, proc.stderr
    idx = hindex.Index(out, model=model_bin)
    h = idx.header
    assert (h.version, h.label_max, h.count, idx.torn) == (2, 40, 5, 0)
    assert h.score_shift >= hindex.grow_shift(idx.center_max)
    assert all(hindex.grow_shift(16400) >= hindex.grow_shift(0) >= hindex.min_score_shift(d) for d in range(1, 4097))
    assert (hindex.grow_shift(0), hindex.grow_shift(16400)) == (8, 9)
    # the worst appended vectors: one-hot unit vectors against the opposite extreme of the center
    for peak_dir in (1, -1):
        e = np.zeros(h.dims, dtype=np.int64)
        j = int(np.argmax(np.abs(idx.center)))
        e[j] = -peak_dir * 16417 if idx.center[j] * peak_dir > 0 else peak_dir * 16417
        v, m = hindex.entry_record(e, idx.center, h.score_shift)
        assert 0 < m <= hindex.MULT_MAX
    n = idx.add("switch the porch light on", "porch")
    assert n == 5 and idx.search("porch light on", k=1)[0][1] == "porch"
    assert hindex.Index(out, model=model_bin).search("porch light on", k=1) == idx.search("porch light on", k=1)
    with pytest.raises(ValueError, match="at most 40"):
        idx.add("x", "y" * 41)


def test_compact_keeps_the_live_entries(tmp_path, ref, model_bin):
    """Compaction drops removed entries and removal slots; every live entry keeps its score and label."""
    out = tmp_path / "g.m2vi"
    out.write_bytes(hindex.build_index(ref, [(t.split()[0], t) for t in TEXTS], grow=True))
    idx = hindex.Index(out, model=model_bin)
    idx.add("turn off the porch light", "porch")
    idx.add("set the oven to 200 degrees", "oven")
    assert idx.remove("turn") == 1 and idx.remove("porch") == 1
    q = "switch off the lamp in the bedroom"
    want = idx.search(q, k=10)
    small = hindex.Index(idx.compact(), model=model_bin)
    assert small.count == len(small) == len(idx) == 5 and small.header.count == 5
    assert small.search(q, k=10) == want and len(out.read_bytes()) > len(idx.compact())
    with pytest.raises(ValueError, match="no removed entries"):
        hindex.Index(hindex.build_index(ref, [("a", "b")]), model=ref).compact()
