"""Normaliser and pre-tokenizer tables, derived from the model's own tokenizer.

``BertNormalizer`` maps each code point on its own, so the converter runs the
model's normaliser on every code point and records what comes out, together
with the class ``BertPreTokenizer`` gives the output (docs/FORMAT.md §3).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field

from tokenizers import Tokenizer

from host_tools import binfmt as bf

logger = logging.getLogger(__name__)

WORD = "word"
ISO = "iso"
SPACE = "space"
MAX_CP = 0x110000
SURROGATES = range(0xD800, 0xE000)

_SBASE, _LBASE, _VBASE, _TBASE = 0xAC00, 0x1100, 0x1161, 0x11A7
_NCOUNT, _TCOUNT, _SCOUNT = 588, 28, 11172


class UnsupportedNormalizer(ValueError):
    """The normaliser does something the binary format cannot express."""


def hangul_decompose(cp: int) -> str:
    """Canonical decomposition of a precomposed Hangul syllable (Unicode §3.12)."""
    s = cp - _SBASE
    out = chr(_LBASE + s // _NCOUNT) + chr(_VBASE + (s % _NCOUNT) // _TCOUNT)
    t = s % _TCOUNT
    return out + chr(_TBASE + t) if t else out


@dataclass
class NormTables:
    """The encoded tables plus what the trie builder needs to know about outputs."""

    ascii_table: bytes
    runs: bytes
    pool: bytes
    n_runs: int
    # Classes each output character can be emitted with.
    out_classes: dict[str, set[str]] = field(default_factory=dict)


def _classify(pre, ch: str) -> str:
    pieces = pre.pre_tokenize_str("a" + ch + "a")
    if len(pieces) == 1:
        return WORD
    if len(pieces) == 2 and pieces[0][0] == "a" and pieces[1][0] == "a":
        return SPACE
    if len(pieces) == 3 and pieces[1][0] == ch:
        return ISO
    raise UnsupportedNormalizer(f"pre-tokenizer splits 'a{ch}a' as {pieces!r}")


def _describe(norm, pre, cp: int, cls_cache: dict[str, str]) -> tuple[str, str]:
    """Return (kind, output) for one code point: kind in drop/space/word/iso."""
    s = norm.normalize_str(chr(cp)) if norm is not None else chr(cp)
    if s == "":
        return "drop", ""

    def cls(c: str) -> str:
        k = cls_cache.get(c)
        if k is None:
            k = cls_cache[c] = _classify(pre, c)
        return k

    classes = [cls(c) for c in s]
    if all(k == SPACE for k in classes):
        return "space", ""
    if classes[0] == SPACE and classes[-1] == SPACE and SPACE not in classes[1:-1]:
        return ISO, s[1:-1]
    if SPACE in classes or len(set(classes)) != 1:
        raise UnsupportedNormalizer(f"U+{cp:04X} normalises to {s!r} with mixed classes {classes}")
    return classes[0], s


def build(tokenizer: Tokenizer) -> NormTables:
    """Derive and encode the normaliser tables of ``tokenizer``."""
    norm = tokenizer.normalizer
    pre = tokenizer.pre_tokenizer
    cls_cache: dict[str, str] = {}
    out_classes: dict[str, set[str]] = {}
    kinds: list[str] = []
    outs: list[str] = []
    for cp in range(MAX_CP):
        if cp in SURROGATES:
            kind, out = "drop", ""
        else:
            kind, out = _describe(norm, pre, cp, cls_cache)
        kinds.append(kind)
        outs.append(out)
        if kind in (WORD, ISO):
            for c in out:
                out_classes.setdefault(c, set()).add(kind)
        if cp and cp % 0x40000 == 0:
            logger.info("normaliser tables: U+%05X of U+10FFFF", cp)

    ascii_table = bytearray(128)
    for cp in range(128):
        kind, out = kinds[cp], outs[cp]
        if kind == "drop":
            ascii_table[cp] = 0
        elif kind == "space":
            ascii_table[cp] = 1
        else:
            b = out.encode()
            if kind == WORD and out == chr(cp) and cp < 3:
                ascii_table[cp] = 2  # a control kept as a word character (clean_text off)
            elif len(b) != 1 or b[0] < 3:
                raise UnsupportedNormalizer(f"ASCII U+{cp:04X} normalises to {out!r}")
            else:
                ascii_table[cp] = b[0] | (0x80 if kind == ISO else 0)

    runs, pool = _encode_runs(kinds, outs)
    logger.info("normaliser tables: %d runs, %d pool bytes", len(runs) // 6, len(pool))
    return NormTables(bytes(ascii_table), runs, pool, len(runs) // 6, out_classes)


def _single_delta(kinds: list[str], outs: list[str], cp: int) -> int | None:
    if kinds[cp] in (WORD, ISO) and len(outs[cp]) == 1:
        d = ord(outs[cp]) - cp
        if -32768 <= d <= 32767:
            return d
    return None


def _encode_runs(kinds: list[str], outs: list[str]) -> tuple[bytes, bytes]:
    """Greedy run-length encoding of code points 0x80..0x10FFFF."""
    runs = bytearray()
    pool = bytearray()
    pool_index: dict[bytes, int] = {}
    cp = 0x80
    n = MAX_CP

    def same_simple(a: int, b: int) -> bool:
        return kinds[a] == kinds[b] and _single_delta(kinds, outs, a) == _single_delta(kinds, outs, b)

    def delta_len(p: int) -> int:
        q = p + 1
        while q < n and same_simple(p, q):
            q += 1
        return q - p

    def alt_len(p: int) -> int:
        d = _single_delta(kinds, outs, p)
        if not d:
            return 0
        q = p
        while q + 1 < n and kinds[q] == kinds[p] and kinds[q + 1] == kinds[p]:
            if _single_delta(kinds, outs, q) != d or _single_delta(kinds, outs, q + 1) != 0:
                break
            q += 2
        return q - p

    def hangul_len(p: int) -> int:
        q = p
        while q < _SBASE + _SCOUNT and q >= _SBASE and kinds[q] == WORD and outs[q] == hangul_decompose(q):
            q += 1
        return q - p

    def emit(p: int, kind_byte: int, arg: int) -> None:
        runs.extend(struct.pack("<HBBh", p & 0xFFFF, p >> 16, kind_byte, arg))

    while cp < n:
        kind = kinds[cp]
        iso = bf.K_ISOLATED if kind == ISO else 0
        if kind == "drop" or kind == "space":
            q = cp + 1
            while q < n and kinds[q] == kind:
                q += 1
            emit(cp, bf.K_DROP if kind == "drop" else bf.K_SPACE, 0)
            cp = q
            continue
        hl = hangul_len(cp)
        if hl >= 2:
            emit(cp, bf.K_HANGUL, 0)
            cp += hl
            continue
        dl = delta_len(cp) if _single_delta(kinds, outs, cp) is not None else 0
        al = alt_len(cp)
        if max(dl, al) >= 2:
            if al > dl:
                emit(cp, bf.K_ALT | iso, _single_delta(kinds, outs, cp) or 0)
                cp += al
            else:
                emit(cp, bf.K_DELTA | iso, _single_delta(kinds, outs, cp) or 0)
                cp += dl
            continue
        # A string run: consecutive code points whose outputs have one byte length.
        width = len(outs[cp].encode())
        if width > 15:
            raise UnsupportedNormalizer(f"U+{cp:04X} normalises to {width} bytes (limit 15)")
        q = cp + 1
        while (
            q < n
            and kinds[q] == kind
            and len(outs[q].encode()) == width
            and (_single_delta(kinds, outs, q) is None or (delta_len(q) < 3 and alt_len(q) < 3))
        ):
            q += 1
        if q - cp == 1 and dl == 1:
            emit(cp, bf.K_DELTA | iso, _single_delta(kinds, outs, cp) or 0)
            cp = q
            continue
        data = "".join(outs[cp:q]).encode()
        off = pool_index.get(data)
        if off is None:
            off = pool.find(data)
            if off < 0:
                off = len(pool)
                pool.extend(data)
            pool_index[data] = off
        if off + len(data) > 0xFFFF:
            raise UnsupportedNormalizer("normaliser string pool exceeds 64 KiB")
        emit(cp, bf.K_STR | iso | (width << 4), off - 0x10000 if off > 0x7FFF else off)
        cp = q
    return bytes(runs), bytes(pool)
