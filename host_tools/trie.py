"""The vocabulary trie and the bit-packed token records (docs/FORMAT.md §5)."""

from __future__ import annotations

import logging
import struct
from collections import Counter
from dataclasses import dataclass

logger = logging.getLogger(__name__)

N_DIRECT = 60
ESC_BASE = 60
MAX_FIELD_BITS = 17


@dataclass
class TrieTables:
    """Encoded trie sections and the values the header needs."""

    symmap: bytes
    nodes: bytes
    haskids: bytes
    hrank: bytes
    gstart: bytes
    trank: bytes
    records: bytes
    n_nodes: int
    n_records: int
    sample_bytes: int
    id_bits: int
    map_bits: int
    weight_bits: int


def bits_for(n: int) -> int:
    """Bits needed to store every value in ``range(n)`` (at least 1)."""
    return max(1, (max(n, 1) - 1).bit_length())


def _symbol_map(words: list[tuple[int, bytes]]) -> bytes:
    """Give the 60 bytes that label most trie nodes a symbol each, in byte order."""
    seen: set[tuple[int, bytes]] = set()
    counts: Counter[int] = Counter()
    for root, w in words:
        for k in range(1, len(w) + 1):
            key = (root, w[:k])
            if key not in seen:
                seen.add(key)
                counts[w[k - 1]] += 1
    direct = sorted(b for b, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:N_DIRECT])
    symmap = bytearray(b"\xff" * 256)
    for sym, b in enumerate(direct):
        symmap[b] = sym
    return bytes(symmap)


def to_symbols(symmap: bytes, word: bytes) -> bytes:
    """Spell a byte string in trie symbols."""
    out = bytearray()
    for b in word:
        s = symmap[b]
        if s == 0xFF:
            out += bytes((ESC_BASE + (b >> 6), b & 63))
        else:
            out.append(s)
    return bytes(out)


def _pack_samples(values: list[int]) -> tuple[bytes, int]:
    width = 2 if max(values, default=0) < 1 << 16 else 4
    return struct.pack(f"<{len(values)}{'H' if width == 2 else 'I'}", *values), width


def build(
    tokens: list[tuple[bool, bytes, int, int, int]],
    n_ids: int,
    n_rows: int,
    weight_bits: int,
    h_shift: int,
    g_shift: int,
    t_shift: int,
) -> TrieTables:
    """Build the trie over ``(continuation, text, id, row, weight_code)`` tokens."""
    words = [(1 if cont else 0, text) for cont, text, _, _, _ in tokens]
    symmap = _symbol_map(words)
    # Nested dict trie: symbol -> child; the key None holds the token's record.
    roots: list[dict] = [{}, {}]
    for cont, text, tid, row, code in tokens:
        node = roots[1 if cont else 0]
        for s in to_symbols(symmap, text):
            node = node.setdefault(s, {})
        if None in node:
            raise ValueError(f"duplicate token {text!r}")
        node[None] = (tid, row, code)

    order: list[dict] = list(roots)
    labels = [0, 0]
    last = [0, 0]
    head = 0
    while head < len(order):
        node = order[head]
        head += 1
        kids = sorted(k for k in node if k is not None)
        for j, s in enumerate(kids):
            order.append(node[s])
            labels.append(s)
            last.append(1 if j == len(kids) - 1 else 0)
    n = len(order)

    nodes = bytearray(n)
    haskids = bytearray((n + 7) // 8)
    records: list[tuple[int, int, int]] = []
    group_starts: list[int] = []
    next_group = 2
    for i, node in enumerate(order):
        term = None in node
        nodes[i] = labels[i] | (0x40 if term else 0) | (0x80 if last[i] else 0)
        if term:
            records.append(node[None])
        nkids = len(node) - (1 if term else 0)
        if nkids:
            haskids[i >> 3] |= 1 << (i & 7)
            group_starts.append(next_group)
            next_group += nkids
    assert next_group == n

    hr, gs, tr = [], [], []
    rank_h = rank_t = 0
    for i in range(n):
        if i % (1 << h_shift) == 0:
            hr.append(rank_h)
        if i % (1 << t_shift) == 0:
            tr.append(rank_t)
        rank_h += (haskids[i >> 3] >> (i & 7)) & 1
        rank_t += (nodes[i] >> 6) & 1
    gs = group_starts[:: 1 << g_shift]
    width = 2 if max(hr + gs + tr) < 1 << 16 else 4
    fmt = "H" if width == 2 else "I"

    id_bits, map_bits = bits_for(n_ids), bits_for(n_rows)
    rec_bits = id_bits + map_bits + weight_bits
    if max(id_bits, map_bits, weight_bits) > MAX_FIELD_BITS:
        raise ValueError(f"record field wider than {MAX_FIELD_BITS} bits")
    acc = 0
    for r, (tid, row, code) in enumerate(records):
        acc |= (tid | (row << id_bits) | (code << (id_bits + map_bits))) << (r * rec_bits)
    rec_bytes = acc.to_bytes((len(records) * rec_bits + 7) // 8, "little")

    logger.info("trie: %d nodes, %d records of %d bits", n, len(records), rec_bits)
    return TrieTables(
        symmap=symmap,
        nodes=bytes(nodes),
        haskids=bytes(haskids),
        hrank=struct.pack(f"<{len(hr)}{fmt}", *hr),
        gstart=struct.pack(f"<{len(gs)}{fmt}", *gs),
        trank=struct.pack(f"<{len(tr)}{fmt}", *tr),
        records=rec_bytes,
        n_nodes=n,
        n_records=len(records),
        sample_bytes=width,
        id_bits=id_bits,
        map_bits=map_bits,
        weight_bits=weight_bits,
    )
