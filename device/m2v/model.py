# Loading a model binary (docs/FORMAT.md §1-2), in place: from a buffer
# (ROMFS, frozen bytes) or from a file through a 1 KiB page cache.
import gc
import struct
from array import array
from micropython import const

from . import pool
from ._src import FileSection, PageCache, crc32_buf, crc32_file
from .tok import Tokenizer

_MAGIC = b"M2VB"
_VERSION = const(1)
_HDR = "<4sHHIIHHHHIIiHHIHBBBBBBBBBBBBHI"
_HDR_SIZE = const(64)
_NSEC = const(13)


def _err(msg):
    return ValueError("corrupt m2v model: " + msg)


class _Sink:
    # Accumulates weighted centroid rows for embed().
    def __init__(self, m):
        self.m = m

    def token(self, tid, row, code):
        m = self.m
        pool.acc_row(m.acc, m.row(row), m.wcodes[code], m.dims)
        m.ntok += 1


class _IdSink:
    def __init__(self):
        self.ids = []

    def token(self, tid, row, code):
        self.ids.append(tid)


class Model:
    def __init__(self, src, check_crc=True):
        # src: a path, an open binary file, or a buffer holding the whole model.
        self._file = None
        if isinstance(src, str):
            src = open(src, "rb")
            self._file = src
        if hasattr(src, "readinto"):
            self._init_file(src, check_crc)
        else:
            self._init_buf(memoryview(src), check_crc)
        self._validate()
        self.tok = Tokenizer(self)
        self.acc = array("i", [0] * self.dims)
        self._sink = _Sink(self)

    # ---- loading
    def _header(self, h, total):
        if len(h) < _HDR_SIZE:
            raise ValueError("not an m2v model: shorter than the 64-byte header")
        if bytes(h[:4]) != _MAGIC:
            raise ValueError("not an m2v model: bad magic")
        f = struct.unpack_from(_HDR, h, 0)
        if f[1] != _VERSION:
            raise ValueError("unsupported m2v format version %d; this reader supports %d" % (f[1], _VERSION))
        (_, _, self.header_size, self.file_size, self.crc, self.flags, self.n_sections, self.dims,
         self.n_centroids, self.vocab_size, self.n_records, self.unk_id, self.max_length, _,
         self.pretrunc_chars, self.max_word_chars, self.id_bits, self.map_bits, self.weight_bits,
         self.rec_bits, self.esc_base, self.norm_bits, self.out_shift, self.h_shift, self.g_shift,
         self.t_shift, self.sample_bytes, _, self.mult_max, self.n_nodes) = f
        if total < self.file_size:
            raise ValueError("truncated m2v model: %d bytes, header says %d" % (total, self.file_size))
        if total > self.file_size:
            raise _err("%d bytes of trailing data" % (total - self.file_size))
        if self.header_size != _HDR_SIZE + 12 * self.n_sections or self.n_sections != _NSEC:
            raise _err("bad section count")

    def _table(self, t):
        secs = {}
        for i in range(self.n_sections):
            sid, zero, off, size = struct.unpack_from("<HHII", t, 12 * i)
            if zero or sid in secs or off < self.header_size or off + size > self.file_size or off & 3:
                raise _err("bad section table entry %d" % i)
            secs[sid] = (off, size)
        for sid in range(1, _NSEC + 1):
            if sid not in secs:
                raise _err("missing section %d" % sid)
        return secs

    def _init_buf(self, mv, check_crc):
        self._header(mv[:_HDR_SIZE], len(mv))
        if check_crc and crc32_buf(mv[16:]) != self.crc:
            raise _err("CRC-32 mismatch")
        secs = self._table(mv[_HDR_SIZE : self.header_size])
        self._secs = secs
        s = [None] * (_NSEC + 1)
        for sid in secs:
            off, size = secs[sid]
            s[sid] = mv[off : off + size]
        self._s = s
        cen = s[13]
        d = self.dims
        self.row = lambda r: cen[r * d : (r + 1) * d]

    def _init_file(self, f, check_crc):
        h = bytearray(_HDR_SIZE)
        f.seek(0, 2)
        total = f.tell()
        f.seek(0)
        n = f.readinto(h)
        self._header(memoryview(h)[: n or 0], total)
        if check_crc:
            crc, left = crc32_file(f, 16, self.file_size, bytearray(256))
            if left or crc != self.crc:
                raise _err("CRC-32 mismatch")
            gc.collect()
        t = bytearray(self.header_size - _HDR_SIZE)
        f.seek(_HDR_SIZE)
        f.readinto(t)
        secs = self._table(t)
        self._secs = secs
        cache = PageCache(f)
        s = [None] * (_NSEC + 1)
        for sid in secs:
            off, size = secs[sid]
            if size <= 256:
                # small tables live in RAM: one read, then plain indexing
                b = bytearray(size)
                f.seek(off)
                f.readinto(b)
                s[sid] = b
            else:
                s[sid] = FileSection(cache, off, size)
        self._s = s
        d = self.dims
        rowbuf = bytearray(d)
        cen_off = secs[13][0]

        def row(r):
            f.seek(cen_off + r * d)
            f.readinto(rowbuf)
            return rowbuf

        self.row = row

    def _validate(self):
        s = self._s
        n = self.n_nodes
        rb = self.rec_bits
        want = {
            1: 128,
            5: 256,
            6: n,
            7: (n + 7) >> 3,
            8: (((n - 1) >> self.h_shift) + 1) * self.sample_bytes,
            10: (((n - 1) >> self.t_shift) + 1) * self.sample_bytes,
            11: (self.n_records * rb + 7) >> 3,
            12: 2 << self.weight_bits,
            13: self.dims * self.n_centroids,
        }
        for sid in want:
            if len(s[sid]) != want[sid]:
                raise _err("section %d has %d bytes, expected %d" % (sid, len(s[sid]), want[sid]))
        if len(s[2]) % 6 or len(s[2]) == 0 or rb != self.id_bits + self.map_bits + self.weight_bits:
            raise _err("inconsistent tables")
        if max(self.id_bits, self.map_bits, self.weight_bits) > 17 or self.sample_bytes not in (2, 4):
            raise _err("inconsistent header")
        if self.mult_max * 127 * self.max_length >= 1 << 30 or self.norm_bits > 15 or self.out_shift > 15:
            raise _err("integer bounds violated")
        nb = self.norm_bits
        if self.dims * ((1 << nb) - 1) ** 2 >= 1 << 30:
            raise _err("integer bounds violated")
        self.ascii = s[1]
        self.runs = s[2]
        self.pool = s[3]
        self.symmap = s[5]
        self.nodes = s[6]
        self.haskids = s[7]
        self.hrank = s[8]
        self.gstart = s[9]
        self.trank = s[10]
        self.records = s[11]
        wc = s[12]
        self.wcodes = array("h", bytes(wc))  # 2**weight_bits int16 multipliers, a few hundred bytes
        for v in self.wcodes:
            if v > self.mult_max or -v > self.mult_max:
                raise _err("multiplier exceeds the accumulator bound")
        self._parse_added(s[4])

    def _parse_added(self, a):
        cnt = a[0] | (a[1] << 8)
        p = 2
        added = []
        first = bytearray(256)  # first[b] != 0: an added token starts with byte b
        for _ in range(cnt):
            ln = a[p]
            tok = bytes(a[p + 1 : p + 1 + ln])
            q = p + 1 + ln
            tid, row, code = struct.unpack_from("<IHH", bytes(a[q : q + 8]), 0)
            chars = len(tok.decode())
            added.append((tok, chars, tid, row, code))
            first[tok[0]] = 1
            p = q + 8
        if p != len(a):
            raise _err("ADDED section size")
        added.sort(key=lambda t: -len(t[0]))  # leftmost, then longest
        self.added = added
        self.added_first = first

    # ---- API
    def tokenize(self, text):
        # Token ids, model2vec semantics: truncated to max_length, [UNK] dropped.
        sink = _IdSink()
        self.tok.run(text, sink)
        return sink.ids

    def embed_into(self, text, out):
        # Write the Q14 unit vector for text into out (array('h') of length dims).
        if len(out) != self.dims:
            raise ValueError("out must have %d elements" % self.dims)
        acc = self.acc
        for d in range(self.dims):
            acc[d] = 0
        self.ntok = 0
        self.tok.run(text, self._sink)
        pool.normalize_into(acc, out, self.dims, self.norm_bits, self.out_shift)
        return out

    def embed(self, text):
        return self.embed_into(text, array("h", bytes(2 * self.dims)))

    def close(self):
        if self._file:
            self._file.close()
            self._file = None
