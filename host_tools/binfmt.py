"""The binary layout of an m2v model file: header, section table, checks.

This module is the one Python definition of the layout described in
``docs/FORMAT.md``; the converter writes through it and the reference reads
through it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, fields

MAGIC = b"M2VB"
VERSION = 1
HEADER_SIZE = 64
SECTION_ENTRY = struct.Struct("<HHII")

# Section ids (docs/FORMAT.md §2).
ASCII = 1
NORM_RUNS = 2
NORM_POOL = 3
ADDED = 4
SYMMAP = 5
NODES = 6
HASKIDS = 7
HRANK = 8
GSTART = 9
TRANK = 10
RECORDS = 11
WCODES = 12
CENTROIDS = 13
SECTION_NAMES = {
    ASCII: "ASCII",
    NORM_RUNS: "NORM_RUNS",
    NORM_POOL: "NORM_POOL",
    ADDED: "ADDED",
    SYMMAP: "SYMMAP",
    NODES: "NODES",
    HASKIDS: "HASKIDS",
    HRANK: "HRANK",
    GSTART: "GSTART",
    TRANK: "TRANK",
    RECORDS: "RECORDS",
    WCODES: "WCODES",
    CENTROIDS: "CENTROIDS",
}

# Header flag bits.
F_NORMALIZE = 1
F_LOWERCASE = 2
F_STRIP_ACCENTS = 4
F_CLEAN_TEXT = 8
F_CHINESE = 16

# Normaliser run kinds (docs/FORMAT.md §3).
K_DROP = 0
K_SPACE = 1
K_DELTA = 2
K_ALT = 3
K_STR = 4
K_HANGUL = 5
K_ISOLATED = 8


@dataclass
class Header:
    """Every field of the 64-byte header, in file order."""

    magic: bytes = MAGIC
    version: int = VERSION
    header_size: int = HEADER_SIZE
    file_size: int = 0
    crc32: int = 0
    flags: int = 0
    n_sections: int = 0
    dims: int = 0
    n_centroids: int = 0
    vocab_size: int = 0
    n_records: int = 0
    unk_id: int = -1
    max_length: int = 0
    median_token_length: int = 0
    pretrunc_chars: int = 0
    max_word_chars: int = 100
    id_bits: int = 0
    map_bits: int = 0
    weight_bits: int = 0
    rec_bits: int = 0
    esc_base: int = 60
    norm_bits: int = 0
    out_shift: int = 14
    h_shift: int = 7
    g_shift: int = 5
    t_shift: int = 7
    sample_bytes: int = 2
    reserved: int = 0
    mult_max: int = 0
    n_nodes: int = 0


HEADER_STRUCT = struct.Struct("<4sHHIIHHHHIIiHHIHBBBBBBBBBBBBHI")
assert HEADER_STRUCT.size == HEADER_SIZE


def pack_header(h: Header) -> bytes:
    """Serialise a header to its 64 bytes."""
    return HEADER_STRUCT.pack(*(getattr(h, f.name) for f in fields(h)))


def unpack_header(buf: bytes) -> Header:
    """Parse the first 64 bytes of ``buf``; raise ValueError if they are not an m2v header."""
    if len(buf) < HEADER_SIZE:
        raise ValueError(f"not an m2v model: {len(buf)} bytes is shorter than the {HEADER_SIZE}-byte header")
    h = Header(*HEADER_STRUCT.unpack_from(buf, 0))
    if h.magic != MAGIC:
        raise ValueError(f"not an m2v model: magic {h.magic!r}, expected {MAGIC!r}")
    if h.version != VERSION:
        raise ValueError(f"unsupported m2v format version {h.version}; this reader supports version {VERSION}")
    return h


def crc_of(buf: bytes | bytearray | memoryview) -> int:
    """CRC-32 of everything after the CRC field."""
    return zlib.crc32(memoryview(buf)[16:]) & 0xFFFFFFFF


def norm_bits_for(dims: int) -> int:
    """Largest N with dims * (2**N - 1)**2 <= 2**30 - 1 (docs/FORMAT.md §6, step 3)."""
    n = 1
    while dims * ((1 << (n + 1)) - 1) ** 2 <= (1 << 30) - 1:
        n += 1
    return n


def mult_max_for(max_length: int) -> int:
    """Largest multiplier that keeps every accumulator a 31-bit small int (§6, step 1)."""
    return min(32767, ((1 << 30) - 1) // (127 * max_length))


def assemble(header: Header, sections: dict[int, bytes]) -> bytes:
    """Lay out the header, section table and 4-byte aligned sections; fill size and CRC."""
    ids = sorted(sections)
    header.n_sections = len(ids)
    header.header_size = HEADER_SIZE + SECTION_ENTRY.size * len(ids)
    table = bytearray()
    body = bytearray()
    offset = header.header_size
    for sid in ids:
        pad = (-offset) % 4
        body += b"\0" * pad
        offset += pad
        data = sections[sid]
        table += SECTION_ENTRY.pack(sid, 0, offset, len(data))
        body += data
        offset += len(data)
    header.file_size = offset
    header.crc32 = 0
    out = bytearray(pack_header(header)) + table + body
    header.crc32 = crc_of(out)
    out[:HEADER_SIZE] = pack_header(header)
    return bytes(out)


def read_sections(buf: bytes | memoryview, h: Header) -> dict[int, tuple[int, int]]:
    """Validate and return the section table as ``{id: (offset, size)}``."""
    if h.header_size != HEADER_SIZE + SECTION_ENTRY.size * h.n_sections:
        raise ValueError("corrupt m2v model: header size does not match the section count")
    if len(buf) < h.header_size:
        raise ValueError("truncated m2v model: the section table is cut off")
    out: dict[int, tuple[int, int]] = {}
    for i in range(h.n_sections):
        sid, zero, off, size = SECTION_ENTRY.unpack_from(buf, HEADER_SIZE + i * SECTION_ENTRY.size)
        if zero != 0 or sid in out or off < h.header_size or off + size > h.file_size or off % 4:
            raise ValueError(f"corrupt m2v model: bad section table entry {i}")
        out[sid] = (off, size)
    missing = sorted(set(SECTION_NAMES) - set(out))
    if missing:
        names = ", ".join(SECTION_NAMES[m] for m in missing)
        raise ValueError(f"corrupt m2v model: missing sections {names}")
    return out


def check(buf: bytes | memoryview) -> tuple[Header, dict[int, tuple[int, int]]]:
    """Check magic, version, size and CRC; return the header and section table."""
    h = unpack_header(bytes(buf[:HEADER_SIZE]))
    if len(buf) < h.file_size:
        raise ValueError(f"truncated m2v model: {len(buf)} bytes, header says {h.file_size}")
    if len(buf) > h.file_size:
        raise ValueError(f"corrupt m2v model: {len(buf) - h.file_size} bytes of trailing data")
    crc = crc_of(buf)
    if crc != h.crc32:
        raise ValueError(f"corrupt m2v model: CRC-32 {crc:08x} does not match the header's {h.crc32:08x}")
    return h, read_sections(buf, h)
