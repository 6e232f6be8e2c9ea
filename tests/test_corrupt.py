"""reference.load rejects damaged or foreign files with a ValueError that names the problem."""

from __future__ import annotations

import random
import struct
import zlib

import pytest

from host_tools import binfmt as bf
from host_tools import reference


@pytest.fixture(scope="module")
def good(model_bin) -> bytes:
    return model_bin.read_bytes()


def load_bytes(tmp_path, data: bytes, name: str = "m.m2v"):
    p = tmp_path / name
    p.write_bytes(data)
    return reference.load(p)


def with_crc(data: bytes | bytearray) -> bytes:
    b = bytearray(data)
    b[12:16] = struct.pack("<I", zlib.crc32(bytes(b[16:])) & 0xFFFFFFFF)
    return bytes(b)


def expected_message(offset: int) -> str:
    """What a reader must complain about when byte ``offset`` alone is damaged."""
    if offset < 4:
        return "magic"
    if offset < 6:
        return "version"
    if offset < 8:
        return "header size"  # not covered by the CRC: checked against n_sections
    if offset < 12:
        return "truncated|trailing"
    return "CRC"


def flip_offsets(good: bytes) -> list[int]:
    """Every header and section-table byte, both ends of every section, and 200 seeded offsets."""
    h, secs = bf.check(good)
    rng = random.Random(2024)
    offs = set(range(h.header_size))
    for off, size in secs.values():
        offs |= {off, off + size - 1}
    offs |= {rng.randrange(len(good)) for _ in range(200)}
    return sorted(offs)


def test_flipped_bytes(good, report):
    offsets = flip_offsets(good)
    rng = random.Random(99)
    for off in offsets:
        b = bytearray(good)
        b[off] ^= rng.choice([0x01, 0x80, 0xFF, rng.randrange(1, 256)])
        with pytest.raises(ValueError, match=expected_message(off)):
            reference.Reference(bytes(b))
    report("corrupt: flipped-byte offsets rejected", len(offsets))


@pytest.mark.parametrize("cut", ["0", "10", "63", "64", "header_size", "half", "len-1"])
def test_truncated(good, tmp_path, cut):
    h = bf.unpack_header(good)
    n = {"header_size": h.header_size, "half": len(good) // 2, "len-1": len(good) - 1}.get(cut) or int(cut)
    with pytest.raises(ValueError, match="shorter than the 64-byte header|truncated"):
        load_bytes(tmp_path, good[:n])


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match="0 bytes"):
        load_bytes(tmp_path, b"")


def test_trailing_junk(good, tmp_path):
    for junk in (b"\0", b"junk" * 100):
        with pytest.raises(ValueError, match="trailing"):
            load_bytes(tmp_path, good + junk)


def test_wrong_magic(good, tmp_path):
    with pytest.raises(ValueError, match="magic"):
        load_bytes(tmp_path, with_crc(b"M2VX" + good[4:]))


def test_version_2(good, tmp_path):
    bad = with_crc(good[:4] + struct.pack("<H", 2) + good[6:])
    assert bf.crc_of(bad) == struct.unpack_from("<I", bad, 12)[0]  # only the version is wrong
    with pytest.raises(ValueError, match="version 2"):
        load_bytes(tmp_path, bad)


def test_foreign_files(model_dir, tmp_path):
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        with pytest.raises(ValueError, match="magic"):
            reference.load(model_dir / name)
    with pytest.raises(ValueError, match="magic"):
        load_bytes(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(200))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("n_sections", 12, "header size"),
        ("header_size", 64, "header size"),
        ("dims", 255, "CENTROIDS"),
        ("n_centroids", 1999, "CENTROIDS"),
        ("weight_bits", 6, "WCODES"),
        ("mult_max", 16000, "accumulator"),
        ("max_length", 2048, "accumulator"),
        ("norm_bits", 12, "inconsistent header"),
        ("rec_bits", 34, "inconsistent header"),
        ("id_bits", 16, "inconsistent header"),
        ("n_nodes", 62794, "n_nodes"),
        ("n_records", 29185, "RECORDS|every node"),
        ("vocab_size", 100, "out of range"),
    ],
)
def test_inconsistent_header_with_valid_crc(good, field, value, match):
    """Damage that passes the CRC check is still caught by the structural checks."""
    h = bf.unpack_header(good)
    setattr(h, field, value)
    with pytest.raises(ValueError, match=match):
        reference.Reference(with_crc(bf.pack_header(h) + good[64:]))


def test_section_table_with_valid_crc(good):
    h, secs = bf.check(good)
    table = bytearray(good[64 : h.header_size])
    bad_entries = {
        "duplicate id": lambda t: t.__setitem__(slice(12, 14), t[0:2]),
        "misaligned": lambda t: t.__setitem__(slice(4, 8), struct.pack("<I", secs[1][0] + 1)),
        "past the end": lambda t: t.__setitem__(slice(8, 12), struct.pack("<I", len(good))),
        "inside header": lambda t: t.__setitem__(slice(4, 8), struct.pack("<I", 64)),
        "nonzero pad": lambda t: t.__setitem__(slice(2, 4), b"\1\0"),
        "unknown id": lambda t: t.__setitem__(slice(0, 2), b"\x0e\0"),
    }
    for damage in bad_entries.values():
        t = bytearray(table)
        damage(t)
        with pytest.raises(ValueError, match="section"):
            reference.Reference(with_crc(good[:64] + bytes(t) + good[h.header_size :]))


@pytest.mark.slow
def test_structural_damage_with_valid_crc(good):
    """Any byte of the header or of a table section changed, CRC fixed: load succeeds or raises ValueError."""
    h, secs = bf.check(good)
    rng = random.Random(5)
    offsets = list(range(16, h.header_size))
    for sid, (off, size) in secs.items():
        if sid != bf.CENTROIDS:
            offsets += [off + rng.randrange(size) for _ in range(6)]
    for off in offsets:
        b = bytearray(good)
        b[off] ^= 0xFF
        try:
            reference.Reference(with_crc(b))
        except ValueError:
            pass


@pytest.mark.parametrize("value", [b"text", None, 5, ["a list"], 3.5, bytearray(b"x")])
def test_non_str_input(ref, value):
    for fn in (ref.tokenize, ref.embed, ref.records):
        with pytest.raises(TypeError, match="must be str"):
            fn(value)
