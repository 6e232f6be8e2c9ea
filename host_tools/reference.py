"""The CPython reference: the exact integer algorithm the board runs, read from the binary alone.

It shares no code with the device package. Tokenising decodes the trie into a
dictionary and runs WordPiece the way ``tokenizers`` does; pooling and
normalisation are numpy and Python integers (docs/FORMAT.md §6).

    >>> from host_tools import reference
    >>> model = reference.load("firmware_assets/model.m2v")
    >>> vec = model.embed("a sentence")        # int16, unit vector in Q14
    >>> model.similarity(vec, vec) / 2**28     # ≈ 1.0
"""

from __future__ import annotations

import bisect
import math
import struct
from pathlib import Path

import numpy as np

from host_tools import binfmt as bf

_SBASE, _LBASE, _VBASE, _TBASE, _NCOUNT, _TCOUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 588, 28
_DROP, _SPACE, _WORD, _ISO = 0, 1, 2, 3


def load(path: str | Path) -> Reference:
    """Read and check a model binary; raise ValueError if it is corrupt, truncated or foreign."""
    data = Path(path).read_bytes()
    return Reference(data)


class Reference:
    """A model binary, decoded for the host."""

    def __init__(self, data: bytes) -> None:
        """Check ``data`` and decode its tables; raise ValueError on any inconsistency."""
        h, secs = bf.check(data)
        self.header = h
        self.sections = secs
        sec = {sid: data[o : o + s] for sid, (o, s) in secs.items()}
        try:
            self._decode(h, sec)
        except (IndexError, struct.error, UnicodeDecodeError, KeyError) as e:
            raise ValueError(f"corrupt m2v model: inconsistent tables ({type(e).__name__}: {e})") from None

    # ---------------------------------------------------------------- decoding
    def _decode(self, h: bf.Header, sec: dict[int, bytes]) -> None:
        d, c = h.dims, h.n_centroids
        if len(sec[bf.CENTROIDS]) != d * c:
            raise ValueError("corrupt m2v model: CENTROIDS size does not match dims x centroids")
        self.centroids = np.frombuffer(sec[bf.CENTROIDS], dtype=np.int8).reshape(c, d).astype(np.int64)
        if len(sec[bf.WCODES]) != 2 << h.weight_bits:
            raise ValueError("corrupt m2v model: WCODES size does not match weight_bits")
        self.wcodes = np.frombuffer(sec[bf.WCODES], dtype="<i2").astype(np.int64)
        if np.abs(self.wcodes).max(initial=0) > h.mult_max or h.mult_max != bf.mult_max_for(h.max_length):
            raise ValueError("corrupt m2v model: multipliers exceed the accumulator bound")
        if h.norm_bits != bf.norm_bits_for(d) or h.rec_bits != h.id_bits + h.map_bits + h.weight_bits:
            raise ValueError("corrupt m2v model: inconsistent header fields")

        # Normaliser.
        if len(sec[bf.ASCII]) != 128 or len(sec[bf.NORM_RUNS]) % 6:
            raise ValueError("corrupt m2v model: bad normaliser table sizes")
        self._ascii = sec[bf.ASCII]
        runs = [struct.unpack_from("<HBBh", sec[bf.NORM_RUNS], i) for i in range(0, len(sec[bf.NORM_RUNS]), 6)]
        self._run_start = [lo | (hi << 16) for lo, hi, _, _ in runs]
        self._run_kind = [k for _, _, k, _ in runs]
        self._run_arg = [a for _, _, _, a in runs]
        if not self._run_start or self._run_start[0] != 0x80 or self._run_start != sorted(set(self._run_start)):
            raise ValueError("corrupt m2v model: normaliser runs are not sorted from U+0080")
        self._pool = sec[bf.NORM_POOL]
        self._norm_cache: dict[str, tuple[int, str]] = {}

        # Added tokens.
        a = sec[bf.ADDED]
        (n_added,) = struct.unpack_from("<H", a, 0)
        pos = 2
        self.added: list[tuple[str, int, int, int]] = []
        for _ in range(n_added):
            ln = a[pos]
            text = a[pos + 1 : pos + 1 + ln].decode()
            tid, row, code = struct.unpack_from("<IHH", a, pos + 1 + ln)
            pos += 1 + ln + 8
            self.added.append((text, tid, row, code))
        self.added.sort(key=lambda t: -len(t[0]))

        # Trie: decode every token into a dictionary keyed by (root, text).
        n = h.n_nodes
        nodes, haskids = sec[bf.NODES], sec[bf.HASKIDS]
        if len(nodes) != n or len(haskids) != (n + 7) // 8 or len(sec[bf.SYMMAP]) != 256:
            raise ValueError("corrupt m2v model: trie section sizes do not match n_nodes")
        unsym: dict[int, int] = {s: b for b, s in enumerate(sec[bf.SYMMAP]) if s != 0xFF}
        total_bits = h.n_records * h.rec_bits
        if len(sec[bf.RECORDS]) != (total_bits + 7) // 8:
            raise ValueError("corrupt m2v model: RECORDS size does not match n_records")
        rec_int = int.from_bytes(sec[bf.RECORDS], "little")
        id_mask, map_mask, w_mask = (1 << h.id_bits) - 1, (1 << h.map_bits) - 1, (1 << h.weight_bits) - 1

        # Breadth-first: the k-th node with children owns the k-th group.
        paths: list[bytes] = [b"", b""]
        root_of = [0, 1]
        pending = bytearray()  # per node: first byte of an escaped pair
        escaped: list[int | None] = [None, None]
        nxt = 2
        self.vocab: dict[tuple[int, str], tuple[int, int, int]] = {}
        rec = 0
        for i in range(n):
            if nodes[i] & 0x40:
                if escaped[i] is not None:
                    raise ValueError("corrupt m2v model: token ends inside an escaped byte")
                f = (rec_int >> (rec * h.rec_bits)) & ((1 << h.rec_bits) - 1)
                tid, row, code = f & id_mask, (f >> h.id_bits) & map_mask, (f >> (h.id_bits + h.map_bits)) & w_mask
                if tid >= h.vocab_size or row >= c:
                    raise ValueError("corrupt m2v model: record out of range")
                self.vocab[(root_of[i], paths[i].decode())] = (tid, row, code)
                rec += 1
            if (haskids[i >> 3] >> (i & 7)) & 1:
                while True:
                    if nxt >= n:
                        raise ValueError("corrupt m2v model: trie groups overrun the node table")
                    sym = nodes[nxt] & 63
                    if escaped[i] is not None:
                        paths.append(paths[i] + bytes(((escaped[i] << 6) | sym,)))
                        escaped.append(None)
                    elif sym >= h.esc_base:
                        paths.append(paths[i])
                        escaped.append(sym - h.esc_base)
                    else:
                        paths.append(paths[i] + bytes((unsym[sym],)))
                        escaped.append(None)
                    root_of.append(root_of[i])
                    nxt += 1
                    if nodes[nxt - 1] & 0x80:
                        break
        del pending
        if nxt != n or rec != h.n_records:
            raise ValueError("corrupt m2v model: trie structure does not account for every node")

    # ---------------------------------------------------------- normalising
    def _norm_char(self, ch: str) -> tuple[int, str]:
        cp = ord(ch)
        if cp < 0x80:
            v = self._ascii[cp]
            if v == 0:
                return _DROP, ""
            if v == 1:
                return _SPACE, ""
            if v == 2:
                return _WORD, ch
            return (_ISO if v & 0x80 else _WORD), chr(v & 0x7F)
        hit = self._norm_cache.get(ch)
        if hit is not None:
            return hit
        i = bisect.bisect_right(self._run_start, cp) - 1
        start, kb, arg = self._run_start[i], self._run_kind[i], self._run_arg[i]
        kind, cls = kb & 7, (_ISO if kb & 8 else _WORD)
        if kind == bf.K_DROP:
            out: tuple[int, str] = (_DROP, "")
        elif kind == bf.K_SPACE:
            out = (_SPACE, "")
        elif kind == bf.K_DELTA:
            out = (cls, chr(cp + arg))
        elif kind == bf.K_ALT:
            out = (cls, chr(cp + arg) if (cp - start) % 2 == 0 else ch)
        elif kind == bf.K_STR:
            w = kb >> 4
            o = (arg & 0xFFFF) + (cp - start) * w
            out = (cls, self._pool[o : o + w].decode())
        elif kind == bf.K_HANGUL:
            s = cp - _SBASE
            t = s % _TCOUNT
            text = chr(_LBASE + s // _NCOUNT) + chr(_VBASE + (s % _NCOUNT) // _TCOUNT)
            out = (cls, text + chr(_TBASE + t) if t else text)
        else:
            raise ValueError(f"corrupt m2v model: unknown normaliser kind {kind}")
        self._norm_cache[ch] = out
        return out

    def _words(self, segment: str):
        """Yield the pre-tokenised words of a normalised segment of raw text."""
        word: list[str] = []
        for ch in segment:
            cls, out = self._norm_char(ch)
            if cls == _DROP:
                continue
            if cls == _SPACE:
                if word:
                    yield "".join(word)
                    word = []
            elif cls == _WORD:
                word.append(out)
            else:
                if word:
                    yield "".join(word)
                    word = []
                yield from out
        if word:
            yield "".join(word)

    # ------------------------------------------------------------ tokenising
    def _wordpiece(self, word: str) -> list[tuple[int, int, int]] | None:
        if len(word) > self.header.max_word_chars:
            return None
        out = []
        start = 0
        while start < len(word):
            root = 0 if start == 0 else 1
            for end in range(len(word), start, -1):
                hit = self.vocab.get((root, word[start:end]))
                if hit is not None:
                    out.append(hit)
                    start = end
                    break
            else:
                return None
        return out

    def _segments(self, text: str):
        """Split raw text on added tokens (leftmost, then longest)."""
        pos = 0
        seg_start = 0
        while pos < len(text):
            for content, tid, row, code in self.added:
                if text.startswith(content, pos):
                    yield text[seg_start:pos], None
                    yield None, (tid, row, code)
                    pos += len(content)
                    seg_start = pos
                    break
            else:
                pos += 1
        yield text[seg_start:], None

    def records(self, text: str) -> list[tuple[int, int, int]]:
        """Token records ``(id, row, weight_code)`` kept for ``text``, model2vec semantics."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        h = self.header
        text = text[: h.pretrunc_chars]
        unk = (h.unk_id, -1, -1)
        toks: list[tuple[int, int, int]] = []
        for segment, added in self._segments(text):
            if added is not None:
                toks.append(added)
            else:
                for word in self._words(segment):
                    pieces = self._wordpiece(word)
                    toks.extend(pieces if pieces is not None else [unk])
                    if len(toks) >= h.max_length:
                        break
            if len(toks) >= h.max_length:
                break
        return [t for t in toks[: h.max_length] if t[0] != h.unk_id]

    def tokenize(self, text: str) -> list[int]:
        """Token ids as model2vec uses them: truncated to max_length, unknown tokens dropped."""
        return [t[0] for t in self.records(text)]

    # --------------------------------------------------------------- pooling
    def pool(self, recs: list[tuple[int, int, int]]) -> np.ndarray:
        """Integer weighted sum of centroid rows, reduced to a Q14 unit vector (FORMAT.md §6)."""
        h = self.header
        out = np.zeros(h.dims, dtype=np.int16)
        if not recs:
            return out
        rows = np.array([r[1] for r in recs], dtype=np.int64)
        mults = self.wcodes[np.array([r[2] for r in recs], dtype=np.int64)]
        acc = (self.centroids[rows] * mults[:, None]).sum(axis=0)
        m = int(np.abs(acc).max())
        if m >= 1 << 30:
            raise AssertionError("accumulator bound of FORMAT.md §6 violated")
        if m == 0:
            return out
        nb = h.norm_bits
        k = nb - m.bit_length()  # 2**(nb-1) <= m * 2**k < 2**nb
        mag = np.abs(acc)
        v = (mag << k) if k >= 0 else (mag >> -k)
        v = np.where(acc < 0, -v, v)
        ss = int((v * v).sum())
        n = math.isqrt(ss)
        if ss - n * n > n:
            n += 1
        q = ((np.abs(v) << h.out_shift) + n // 2) // n
        return np.where(v < 0, -q, q).astype(np.int16)

    def embed(self, text: str) -> np.ndarray:
        """Return the device's output for ``text``: an int16 unit vector in Q(out_shift)."""
        return self.pool(self.records(text))

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """``embed`` for each text, stacked into an ``(n, dims)`` int16 array."""
        out = np.zeros((len(texts), self.header.dims), dtype=np.int16)
        for i, t in enumerate(texts):
            out[i] = self.embed(t)
        return out

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> int:
        """Integer dot product of two outputs: ``cos * 2**28``."""
        return int(np.dot(a.astype(np.int64), b.astype(np.int64)))
