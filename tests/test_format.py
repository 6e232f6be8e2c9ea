"""The binary format: writer and reader agree on every header field, and the default binary is consistent.

Header values are checked against values computed here independently of the
converter (from the model files, model2vec and docs/FORMAT.md).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from host_tools import binfmt as bf

DOC = Path(__file__).resolve().parents[1] / "docs" / "FORMAT.md"
DOC_TYPES = {"4s": "4s", "u8": "B", "u16": "H", "u32": "I", "i32": "i"}
SECTION_IDS = {
    "ASCII": 1, "NORM_RUNS": 2, "NORM_POOL": 3, "ADDED": 4, "SYMMAP": 5, "NODES": 6, "HASKIDS": 7,
    "HRANK": 8, "GSTART": 9, "TRANK": 10, "RECORDS": 11, "WCODES": 12, "CENTROIDS": 13,
}  # fmt: skip


def doc_header_table() -> list[tuple[int, str, str]]:
    """``(offset, struct code, field)`` rows of the header table in docs/FORMAT.md §1."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 1. Header") : text.index("## 2. Sections")]
    rows = re.findall(r"^\| (\d+) \| (4s|u8|u16|u32|i32) \| `?(\w+)`? \|", section, re.M)
    return [(int(off), DOC_TYPES[t], name) for off, t, name in rows]


# ------------------------------------------------------------------- header


def test_header_layout_matches_doc():
    rows = doc_header_table()
    assert [name for _, _, name in rows] == [f.name for f in fields(bf.Header)]
    assert bf.HEADER_STRUCT.format == "<" + "".join(code for _, code, _ in rows)
    for (off, code, name), (nxt, _, _) in zip(rows, rows[1:] + [(bf.HEADER_SIZE, "", "")]):
        assert off + struct.calcsize("<" + code) == nxt, name
    assert bf.HEADER_SIZE == bf.HEADER_STRUCT.size == 64
    assert bf.SECTION_NAMES == {v: k for k, v in SECTION_IDS.items()}


def distinct_header(magic: bytes = bf.MAGIC, version: int = bf.VERSION) -> bf.Header:
    """A header whose every field (magic and version aside) has its own non-default value."""
    values = {}
    for i, (_, code, name) in enumerate(doc_header_table()):
        values[name] = {"B": 100 + i, "H": 1000 + 37 * i, "I": 100_000 + 7919 * i, "i": -12_345 - i, "4s": magic}[code]
    values["version"] = version
    return bf.Header(**values)


def test_header_roundtrip_every_field():
    h = distinct_header()
    default = bf.Header()
    others = [f.name for f in fields(bf.Header) if f.name not in ("magic", "version")]
    vals = [getattr(h, n) for n in others]
    assert len(set(vals)) == len(vals)
    assert all(getattr(h, n) != getattr(default, n) for n in others)

    packed = bf.pack_header(h)
    assert len(packed) == bf.HEADER_SIZE
    assert bf.unpack_header(packed) == h
    assert bf.unpack_header(packed + b"\xee" * 100) == h
    # Each field sits where docs/FORMAT.md says.
    for off, code, name in doc_header_table():
        assert struct.unpack_from("<" + code, packed, off)[0] == getattr(h, name), name


def test_header_roundtrip_magic_and_version():
    h = distinct_header(magic=b"XYZW", version=7)
    packed = bf.pack_header(h)
    assert bf.Header(*bf.HEADER_STRUCT.unpack(packed)) == h
    with pytest.raises(ValueError, match="magic"):
        bf.unpack_header(packed)
    with pytest.raises(ValueError, match="version 7"):
        bf.unpack_header(bf.pack_header(distinct_header(version=7)))
    with pytest.raises(ValueError, match="shorter"):
        bf.unpack_header(bf.pack_header(h)[:63])


def test_assemble_roundtrip():
    sections = {sid: bytes(range(sid * 3 % 7)) * sid for sid in SECTION_IDS.values()}
    data = bf.assemble(distinct_header(), dict(sections))
    h, secs = bf.check(data)
    assert h.file_size == len(data) and h.crc32 == zlib.crc32(data[16:])
    assert h.header_size == 64 + 12 * 13 and h.n_sections == 13
    for sid, (off, size) in secs.items():
        assert off % 4 == 0 and data[off : off + size] == sections[sid]


def test_norm_bits_and_mult_max_formulas():
    for d in (1, 2, 64, 128, 256, 384, 768, 1024, 4096):
        n = max(k for k in range(1, 32) if d * (2**k - 1) ** 2 <= 2**30 - 1)
        assert bf.norm_bits_for(d) == n, d
    for ml in (1, 2, 128, 256, 512, 1000, 8192):
        assert bf.mult_max_for(ml) == min(32767, (2**30 - 1) // (127 * ml))
        assert bf.mult_max_for(ml) * 127 * ml < 2**30


# ------------------------------------------------------ the default binary


@pytest.fixture(scope="module")
def binary(model_bin):
    data = model_bin.read_bytes()
    h, secs = bf.check(data)
    return data, h, {sid: data[o : o + s] for sid, (o, s) in secs.items()}, secs


@pytest.fixture(scope="module")
def model_files(model_dir, default_tensors):
    tok_json = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return tok_json, config, tok, default_tensors


def test_header_fields_independent(binary, model_files, m2v, report):
    data, h, sec, _ = binary
    tok_json, config, tok, tensors = model_files
    emb = tensors["embeddings"]
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    norm = tok_json["normalizer"]
    expected = {
        "magic": b"M2VB",
        "version": 1,
        "header_size": 64 + 12 * 13,
        "file_size": len(data),
        "crc32": zlib.crc32(data[16:]) & 0xFFFFFFFF,
        "flags": (1 if config["normalize"] else 0)
        | (2 if norm["lowercase"] else 0)
        | (4 if (norm["strip_accents"] if norm["strip_accents"] is not None else norm["lowercase"]) else 0)
        | (8 if norm["clean_text"] else 0)
        | (16 if norm["handle_chinese_chars"] else 0),
        "n_sections": 13,
        "dims": emb.shape[1],
        "n_centroids": emb.shape[0],
        "vocab_size": vocab_size,
        "n_records": sum(1 for b in sec[bf.NODES] if b & 0x40),
        "unk_id": m2v.unk_token_id,
        "max_length": config["max_length"],
        "median_token_length": int(np.median([len(t) for t in m2v.tokens])),
        "pretrunc_chars": m2v.max_length * m2v.median_token_length,
        "max_word_chars": tok_json["model"]["max_input_chars_per_word"],
        "id_bits": (vocab_size - 1).bit_length(),
        "map_bits": (emb.shape[0] - 1).bit_length(),
        "weight_bits": 7,
        "rec_bits": (vocab_size - 1).bit_length() + (emb.shape[0] - 1).bit_length() + 7,
        "esc_base": 60,
        "norm_bits": max(k for k in range(1, 32) if emb.shape[1] * (2**k - 1) ** 2 <= 2**30 - 1),
        "out_shift": 14,
        "sample_bytes": 2,
        "reserved": 0,
        "mult_max": min(32767, (2**30 - 1) // (127 * config["max_length"])),
        "n_nodes": len(sec[bf.NODES]),
    }
    # The values the brief of this model pins down.
    assert (expected["dims"], expected["n_centroids"], expected["vocab_size"]) == (256, 2000, 29525)
    assert (expected["unk_id"], expected["max_length"], expected["norm_bits"]) == (1, 512, 11)
    assert expected["mult_max"] == 16513 and expected["flags"] == 31
    for name, value in expected.items():
        assert getattr(h, name) == value, name
    report("format: header", f"median_token_length {h.median_token_length}, pretrunc_chars {h.pretrunc_chars}, "
           f"n_records {h.n_records:,}, n_nodes {h.n_nodes:,}, rec_bits {h.rec_bits}, mult_max {h.mult_max}")  # fmt: skip


def test_header_equals_converter(binary, fresh_default_bytes):
    """Every header field of the committed file is what convert_model computes now."""
    _, h, _, _ = binary
    fresh = bf.unpack_header(fresh_default_bytes)
    for f in fields(bf.Header):
        assert getattr(fresh, f.name) == getattr(h, f.name), f.name


def test_section_sizes(binary):
    data, h, sec, secs = binary
    n = h.n_nodes
    groups = sum(bin(b).count("1") for b in sec[bf.HASKIDS])
    sb = h.sample_bytes
    expected = {
        bf.ASCII: 128,
        bf.SYMMAP: 256,
        bf.NODES: n,
        bf.HASKIDS: (n + 7) // 8,
        bf.HRANK: -(-n // (1 << h.h_shift)) * sb,
        bf.GSTART: -(-groups // (1 << h.g_shift)) * sb,
        bf.TRANK: -(-n // (1 << h.t_shift)) * sb,
        bf.RECORDS: -(-h.n_records * h.rec_bits // 8),
        bf.WCODES: 2 << h.weight_bits,
        bf.CENTROIDS: h.n_centroids * h.dims,
    }
    for sid, size in expected.items():
        assert secs[sid][1] == size, bf.SECTION_NAMES[sid]
    assert secs[bf.NORM_RUNS][1] % 6 == 0
    assert sorted(secs) == list(range(1, 14))
    spans = sorted(secs.values())
    assert spans[0][0] >= h.header_size
    for (o1, s1), (o2, _) in zip(spans, spans[1:]):
        assert o1 + s1 <= o2
    assert spans[-1][0] + spans[-1][1] <= h.file_size == len(data)
    assert all(off % 4 == 0 for off, _ in spans)


def _samples(buf: bytes, width: int) -> list[int]:
    return list(struct.unpack(f"<{len(buf) // width}{'H' if width == 2 else 'I'}", buf))


def test_rank_select_samples(binary):
    _, h, sec, _ = binary
    nodes, haskids, n = sec[bf.NODES], sec[bf.HASKIDS], h.n_nodes
    kids = [(haskids[i >> 3] >> (i & 7)) & 1 for i in range(n)]
    term = [(b >> 6) & 1 for b in nodes]
    rank_h = np.concatenate([[0], np.cumsum(kids)])
    rank_t = np.concatenate([[0], np.cumsum(term)])
    assert _samples(sec[bf.HRANK], h.sample_bytes) == [int(rank_h[i]) for i in range(0, n, 1 << h.h_shift)]
    assert _samples(sec[bf.TRANK], h.sample_bytes) == [int(rank_t[i]) for i in range(0, n, 1 << h.t_shift)]
    # Groups: consecutive nodes from node 2, each closed by its last_in_group bit.
    starts = [2] + [i + 1 for i in range(2, n - 1) if nodes[i] & 0x80]
    assert nodes[n - 1] & 0x80 and len(starts) == sum(kids)
    assert _samples(sec[bf.GSTART], h.sample_bytes) == starts[:: 1 << h.g_shift]
    # Within a group the symbols increase; roots carry no symbol.
    assert nodes[0] == nodes[1] == 0 and kids[0] and kids[1]
    bounds = starts + [n]
    for a, b in zip(bounds, bounds[1:]):
        syms = [nodes[i] & 63 for i in range(a, b)]
        assert syms == sorted(set(syms))


def test_records_match_vocabulary(ref, model_files, report):
    """Every stored token is a vocabulary token with its id, centroid row and a close weight code."""
    tok_json, _, _, tensors = model_files
    vocab = tok_json["model"]["vocab"]
    mapping, weights = tensors["mapping"], tensors["weights"]
    h = ref.header
    wc = ref.wcodes.astype(np.float64) / h.mult_max
    eff = weights / weights.max()
    worst = 0.0
    for (root, text), (tid, row, code) in ref.vocab.items():
        assert vocab[text if root == 0 else "##" + text] == tid
        assert row == mapping[tid]
        worst = max(worst, abs(wc[code] / eff[tid] - 1))
    assert len(ref.vocab) == h.n_records
    assert {tid for tid, _, _ in ref.vocab.values()}.isdisjoint({h.unk_id})
    added = {text: (tid, row) for text, tid, row, _ in ref.added}
    assert added == {a["content"]: (a["id"], int(mapping[a["id"]])) for a in tok_json["added_tokens"]}
    report("format: worst relative weight-code error", f"{worst:.4f}")
    assert worst < 0.05


def test_integer_bound(binary, ref):
    _, h, sec, _ = binary
    wcodes = np.frombuffer(sec[bf.WCODES], dtype="<i2").astype(np.int64)
    cent = np.frombuffer(sec[bf.CENTROIDS], dtype=np.int8).astype(np.int64)
    assert int(np.abs(wcodes).max()) <= h.mult_max
    assert int(np.abs(wcodes).max()) * 127 * h.max_length < 2**30
    assert int(np.abs(cent).max()) <= 127
    # The worst possible accumulator is a 31-bit small int.
    assert int(np.abs(wcodes).max()) * int(np.abs(cent).max()) * h.max_length <= 2**30 - 1
    assert h.dims * (2**h.norm_bits - 1) ** 2 <= 2**30 - 1


def test_int8_rows_respect_the_127_bound():
    """An int8 model's -128 would break the accumulator bound (|row| <= 127 in FORMAT.md §6)."""
    from host_tools import quant

    emb = np.array([[-128, 5, 127, 0], [3, -4, 100, 127], [-128, -128, 0, 64], [0, 0, 0, 0]], dtype=np.int8)
    rows, scales = quant.int8_rows(emb)
    assert rows.dtype == np.int8 and int(np.abs(rows.astype(np.int64)).max()) <= 127
    # Rows without -128 are kept exactly, scale 1; the others are rescaled to within half a step.
    for i in (1, 3):
        assert scales[i] == 1.0 and np.array_equal(rows[i], emb[i])
    approx = rows.astype(np.float64) * scales[:, None]
    assert np.all(np.abs(approx - emb) <= scales[:, None] / 2 + 1e-12)
    # A float matrix: per-row max|row| / 127.
    f = np.array([[0.5, -1.0], [0.0, 0.0], [2.54, 1.27]])
    rows, scales = quant.int8_rows(f)
    assert np.allclose(scales, [1 / 127, 0.0, 0.02]) and rows.tolist() == [[64, -127], [0, 0], [127, 64]]
