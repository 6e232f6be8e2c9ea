# Semantic search over an index file built on the host (docs/FORMAT.md,
# "Index file"): python -m host_tools index MODEL TEXTS -o INDEX [--grow].
#
#   idx = m2v.Index("intents.m2vi")          # file: streamed; /rom/...: read in place
#   idx.search("lights off please", k=3)     # [(score, label), ...] best first
#   idx.cosine(score)                        # ~ cosine of query and entry
#   idx.add("lights out", "lights_off")      # version 2: append an entry (docs/LEARNING.md)
#
# The scan streams the entries through one small buffer (file mode) or reads
# them in place (ROMFS / buffer mode); it keeps only the k best (score, entry)
# pairs and reads the labels of those alone, so RAM does not grow with the
# index. Scores are integers, identical to host_tools.index.Index.search.
# Twin by design: the chunked read-and-scan loop of _scan is the shape of
# classifier.py's _scores_into (each keeps its own rows' layout and results).
#
# Version 2 (FORMAT.md, index §6) is a version 1 base that is never written
# again, then a log of appended entries, one fixed-size slot each with its own
# CRC-32. An add writes one slot past the last committed one and flushes; a
# slot cut short by a power loss fails its CRC-32 and is ignored (the file
# reads as before the add) until the next add overwrites it.
import struct
from array import array

from micropython import const

from . import _rows
from .model import _locked

_MAGIC = b"M2VI"
_VERSIONS = (1, 2)
_HDR = "<4sHHIIHBBIIIIIIIIIBBHI"
_HDR_V2 = "<4sHHIIHBBIIIIIIIIIBBBBi"  # ... label_max, reserved, threshold
_HDR_SIZE = const(64)
_MULT_BITS = const(15)
_MULT_MAX = const(32767)
_FLAG_THRESHOLD = const(1)
_SMALL = const(0x40000000)  # 2**30: every partial sum stays below it
_BUF_ENTRIES = const(64)  # entries per scan call in buffer mode
_Q14_PEAK = const(16417)  # |q[d]| of a Q14 unit vector (FORMAT.md §6)


def slot_size(d, label_max):
    # bytes of an appended entry: record, label length, label, CRC-32, to 4 bytes
    return (d + 2 + 1 + label_max + 4 + 3) & ~3


def grow_shift(center_max):
    # the least score shift at which any Q14 unit vector can be appended
    # (FORMAT.md, index §6): 3 * peak * 2**(15 - t) <= 254 * 32766
    peak = _Q14_PEAK + center_max
    t = 0
    while 3 * peak * (1 << (_MULT_BITS - t)) > 254 * (_MULT_MAX - 1):
        t += 1
    return t


def create(path, model=None, center=None, label_max=32, threshold=None):
    # Write an empty version 2 index for model's vectors at path (replacing
    # it: written to path + ".tmp", then renamed) and return path; path None:
    # return the bytes (for a file the caller writes). center: an
    # int16 vector the entries are stored relative to (default zero: an
    # index built on the host centres on its texts' mean); threshold: the
    # score below which m2v.ClassMeans rejects, or None. Equal, byte for byte,
    # to host_tools.index.assemble(..., grow=True) with no entries.
    import os

    if model is None:
        from . import _model

        model = _model()
    d = model.dims
    c = array("h", bytes(2 * d)) if center is None else array("h", center)
    if len(c) != d:
        raise ValueError("center must be %d integers" % d)
    cm = 0
    for v in c:
        if v < -16400 or v > 16400:
            raise ValueError("center components must be within 16400")
        cm = max(cm, -v if v < 0 else v)
    if not 1 <= label_max <= 255:
        raise ValueError("label_max must be 1..255")
    ce = _HDR_SIZE + ((2 * d + 3) & ~3)  # end of CENTER; empty ENTRIES and LABEL_IDS; LABEL_OFFS = [0]
    size = ce + 4
    b = bytearray(size)
    struct.pack_into(_HDR_V2, b, 0, _MAGIC, 2, _HDR_SIZE, size, 0, d, model.out_shift, grow_shift(cm), 0,
                     model.crc, 0, _HDR_SIZE, ce, ce, ce, size, 0, 2,
                     0 if threshold is None else _FLAG_THRESHOLD, label_max, 0, threshold or 0)  # fmt: skip
    b[_HDR_SIZE : _HDR_SIZE + 2 * d] = bytes(c)
    from ._open import crc_fn

    struct.pack_into("<I", b, 12, crc_fn()(memoryview(b)[16:]) & 0xFFFFFFFF)
    if path is None:
        return b
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b)
        f.flush()
    try:
        os.rename(tmp, path)  # replaces path on littlefs and the unix port
    except OSError:  # FAT's rename does not replace: remove, then rename
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(tmp, path)
    return path


class Index(_rows.RowFile):
    WHAT = "index"

    def __init__(self, path, model=None, mode=None, check_crc=True, buf_bytes=4096):
        # path: an index file; mode "buf" reads it in place (ROMFS memoryview) or
        # into RAM, "file" streams it through a buf_bytes buffer; None picks "buf"
        # for /rom paths. model embeds text queries (default: m2v's model).
        # src may also be a buffer (bytes, memoryview) holding the whole index,
        # or an open binary file ("r+b" for add).
        self._path = path if isinstance(path, str) else None
        self._rw = not isinstance(path, str)  # a file object given: add writes to it as it is
        super().__init__(path, model, mode, check_crc, buf_bytes)

    def _open(self, check_crc, buf_bytes):
        h = self._header(_HDR, _MAGIC, _VERSIONS)
        self.version = h[1]
        self._slot = 0  # bytes per appended entry; 0: version 1, which cannot grow
        self.threshold = None
        if h[1] == 2:
            h = struct.unpack_from(_HDR_V2, self._read(0, _HDR_SIZE), 0)
        (_, _, hs, self.file_size, crc, d, self.out_shift, self.score_shift, n, self.model_crc, self.n_labels,
         c_off, self._e_off, self._id_off, self._lo_off, self._lb_off, lb_size, self._id_bytes, flags, rs, _,
         *thr) = h  # fmt: skip
        self._crc = crc
        if self.version == 1:
            if hs != _HDR_SIZE or flags:
                raise self._bad("bad header size or flags")
            self._sized()
            low = 1
        else:
            if hs != _HDR_SIZE or flags & ~_FLAG_THRESHOLD or h[20]:
                raise self._bad("bad header size or flags")
            if self._total < self.file_size:
                raise ValueError("truncated m2v index: %d bytes, header says %d" % (self._total, self.file_size))
            if flags:
                self.threshold = thr[0]
            self._label_max = rs
            self._slot = slot_size(d, rs)
            rs = d + 2
            low = 0
        if rs != d + 2 or not 1 <= d <= 4096 or n < low or self.n_labels < low or self._id_bytes not in (2, 4):
            raise self._bad("inconsistent header fields")
        if self.score_shift > 15 or self.out_shift > 15:
            raise self._bad("inconsistent header fields")
        spans = ((c_off, 2 * d), (self._e_off, n * rs), (self._id_off, n * self._id_bytes),
                 (self._lo_off, 4 * (self.n_labels + 1)), (self._lb_off, lb_size))  # fmt: skip
        self._sections(spans, check_crc, crc)
        self._lb_size = lb_size
        self.dims = d
        self._base_n = n
        self.count = n
        self.torn = 0  # bytes of an append that did not complete: ignored, the next add overwrites them
        self._dead = None  # a bit per removed entry, once the file holds a removal slot
        if self._slot:
            self._log(check_crc)
        self.center = array("h", bytes(self._read(c_off, 2 * d)))
        cm = 0
        for v in self.center:
            if v < 0:
                v = -v
            if v > cm:
                cm = v
        # sum |q[d]| must stay below this (FORMAT.md, index file §4)
        self.l1_max = (_SMALL - 1 - d) // (128 + (cm >> self.score_shift))
        self._q = _rows.new_q(d)
        if self._f is not None:
            per = buf_bytes // rs
            if per < 1:
                per = 1
            self._per = per
            # version 2: room for one appended entry at least; the views of
            # a full chunk of entries and of appended slots are made once, so
            # that a search allocates the same whatever the index's size
            self._buf = b = bytearray(max(per * rs, self._slot))
            self._bview = memoryview(b)[: per * rs]
            if self._slot:
                self._lview = memoryview(b)[: len(b) // self._slot * self._slot]
        else:
            self._per = _BUF_ENTRIES
            self._buf = None
        self._cs = array("i", bytes(4 * self._per))
        self._ci = array("i", bytes(4 * self._per))

    def _log(self, check_crc):
        # Count the committed appended entries (FORMAT.md, index §6): every slot
        # whose CRC-32 holds (with check_crc; else the last full one alone); a
        # failing last slot, or a part of one after the last, is a torn append.
        S = self._slot
        rest = self._total - self.file_size
        full = rest // S
        part = rest - full * S
        from ._open import crc_fn

        crc32 = crc_fn()
        b = bytearray(S) if self._f is not None else None
        bad = full
        for i in range(0 if check_crc else max(full - 1, 0), full):
            o = self.file_size + i * S
            if b is None:
                s = self._mv[o : o + S]
            else:
                self._f.seek(o)
                if self._f.readinto(b) != S:
                    raise self._bad("short read")
                s = b
            want = s[S - 4] | (s[S - 3] << 8) | (s[S - 2] << 16) | (s[S - 1] << 24)
            if crc32(s[: S - 4], (self._crc ^ (self._base_n + i)) & 0xFFFFFFFF) & 0xFFFFFFFF != want:
                bad = i
                break
            if s[self.dims + 2] > self._label_max:
                raise self._bad("appended label longer than label_max")
        if bad < full - 1 or bad == full - 1 and part:
            raise self._bad("appended entry %d fails its CRC-32" % (self._base_n + bad))
        self.count = self._base_n + bad
        self.torn = rest - bad * S
        self._log_off = self.file_size
        self._mark_removed()

    def _mark_removed(self):
        # The dead entries (FORMAT.md, index §6): every removal slot (m =
        # 0xFFFF) and the entries before it with its label; a bit each in
        # self._dead, None while nothing is removed (no heap kept).
        self._dead = None
        S, d, base = self._slot, self.dims, self._base_n
        for j in range(self.count - base):
            if bytes(self._read(self._log_off + j * S + d, 2)) != b"\xff\xff":
                continue
            if self._dead is None:
                self._dead = bytearray((self.count + 7) >> 3)
            p = base + j
            lab = self._label(p)
            for i in range(p + 1):
                if i == p or self._label(i) == lab:
                    self._dead[i >> 3] |= 1 << (i & 7)

    def _is_dead(self, i):
        dead = self._dead
        return dead is not None and dead[i >> 3] >> (i & 7) & 1

    def __len__(self):
        # the live entries
        n = self.count
        if self._dead is not None:
            for i in range(self.count):
                n -= self._dead[i >> 3] >> (i & 7) & 1
        return n

    # ---- queries
    def _query(self, query):
        # Fill self._q (array('h')) from a text or an int16 vector; return the bias.
        q = self._q
        d = self.dims
        _rows.query_into(q, query, self.model, self.model_crc, self.l1_max, "index")
        c = self.center
        t = self.score_shift
        bias = 0
        for j in range(d):
            bias += (q[j] * c[j]) >> t
        return bias

    def _stream(self, bias, keep):
        # Score every entry against self._q in entry order, base then appended;
        # keep(nc) takes the (score, entry) pairs the scan wrote to _cs/_ci. A
        # scan writes only scores above self._thr once self._full is set.
        d = self.dims
        rs = d + 2
        n = self._base_n
        q, cs, ci, per = self._q, self._cs, self._ci, self._per
        scan = _rows.scan()
        e0 = 0
        f = self._f
        if f is not None:
            buf = self._buf
            f.seek(self._e_off)
        else:
            buf = self._mv
        while e0 < n:
            cnt = n - e0
            if cnt > per:
                cnt = per
            if f is not None:
                want = cnt * rs
                got = f.readinto(self._bview) if cnt == per else f.readinto(memoryview(buf)[:want])
                if got != want:
                    raise self._bad("short read")
                keep(scan(buf, 0, cnt, d, q, bias, self._thr, self._full, e0, cs, ci))
            else:
                keep(scan(buf, self._e_off + e0 * rs, cnt, d, q, bias, self._thr, self._full, e0, cs, ci))
            e0 += cnt
        S = self._slot
        nl = self.count - n
        j = 0
        off = 0
        if nl and f is not None:
            f.seek(self._log_off)
            per = len(buf) // S
        while j < nl:
            cnt = nl - j
            if f is not None:
                if cnt >= per:
                    cnt = per
                    got = f.readinto(self._lview)
                else:
                    got = f.readinto(memoryview(buf)[: cnt * S])
                if got != cnt * S:
                    raise self._bad("short read")
            else:
                off = self._log_off + j * S
            for s in range(cnt):
                if scan(buf, off + s * S, 1, d, q, bias, self._thr, self._full, n + j + s, cs, ci):
                    keep(1)
            j += cnt

    def _keep_top(self, nc):
        # Merge the scan's pairs into the k best (self._ts scores, self._ti entries).
        ts, ti, cs, ci, k, dead = self._ts, self._ti, self._cs, self._ci, self._k, self._dead
        for c in range(nc):
            s = cs[c]
            if self._full and s <= self._thr:
                continue
            if dead is not None and dead[ci[c] >> 3] >> (ci[c] & 7) & 1:
                continue  # removed
            p = len(ts)
            while p > 0 and ts[p - 1] < s:
                p -= 1
            ts.insert(p, s)
            ti.insert(p, ci[c])
            if len(ts) > k:
                ts.pop()
                ti.pop()
            if len(ts) == k:
                self._full = 1
                self._thr = ts[-1]

    @_locked
    def search_ids(self, query, k=5):
        # The k best (score, entry) pairs, best first; equal scores: lower entry first.
        return self._search_ids(query, k)

    def _search_ids(self, query, k):
        if k < 1:
            raise ValueError("k must be at least 1")
        bias = self._query(query)
        self._ts, self._ti, self._k = [], [], k
        self._full = self._thr = 0
        try:
            self._stream(bias, self._keep_top)
            ts, ti = self._ts, self._ti
        finally:
            self._ts = self._ti = None
        return [(ts[i], ti[i]) for i in range(len(ts))]

    @_locked
    def search(self, query, k=5):
        # The k best (score, label) pairs, best first; equal scores: lower entry first.
        return [(s, self._label(i)) for s, i in self._search_ids(query, k)]

    def _label(self, i):
        if not 0 <= i < self.count:
            raise IndexError("entry out of range")
        if i >= self._base_n:
            o = self._log_off + (i - self._base_n) * self._slot + self.dims + 2
            b = self._read(o, 1 + self._label_max)
            return str(b[1 : 1 + b[0]], "utf-8")
        ib = self._id_bytes
        b = self._read(self._id_off + i * ib, ib)
        lid = b[0] | (b[1] << 8)
        if ib == 4:
            lid |= (b[2] << 16) | (b[3] << 24)
        if lid >= self.n_labels:
            raise self._bad("label id out of range")
        return self._text(lid)

    def cosine(self, score):
        # Approximate cosine of query and entry for a score.
        return score * 2.0 ** (self.score_shift - 2 * self.out_shift)

    # ---- appending (version 2)
    @_locked
    def add(self, item, label):
        return self._add(item, label)

    def _add(self, item, label):
        # Append an entry for item (a text, embedded by the model, or an int16
        # vector) with label (str); return its entry number. search() sees it
        # at once. The slot (FORMAT.md, index §6) is written past the last
        # committed entry (over a torn one) and flushed: a power loss leaves
        # the file as before or after the add. Equal, byte for byte, to
        # host_tools.index.Index.add.
        if not isinstance(label, str):
            raise TypeError("label must be a str")
        lb = label.encode()
        self._check_grow(lb)
        d, q, c, S = self.dims, self._q, self.center, self._slot
        _rows.query_into(q, item, self.model, self.model_crc, self.l1_max, "index")
        peak = 0
        for j in range(d):
            r = q[j] - c[j]
            if r < 0:
                r = -r
            if r > peak:
                peak = r
        b = bytearray(S)
        m = 0
        if peak:
            # v = round(r * 127 / peak), halves away from zero; r.v summed in
            # blocks of 64 terms (each below 49168 * 127) so that every partial
            # sum stays a small int; m = round(2**(15-t) * r.v / v.v)
            p2 = 2 * peak
            rv = vv = part = 0
            for j in range(d):
                r = q[j] - c[j]
                v = (254 * r + peak) // p2 if r >= 0 else -((peak - 254 * r) // p2)
                b[j] = v & 0xFF
                part += r * v
                vv += v * v
                if j & 63 == 63:
                    rv += part
                    part = 0
            rv += part
            m = ((rv << (_MULT_BITS + 1 - self.score_shift)) + vv) // (2 * vv)
            if m > _MULT_MAX:
                raise ValueError("vector too far from the index's center to add (multiplier above 32767)")
        return self._write_slot(b, m, lb)

    @_locked
    def remove(self, label):
        return self._remove(label)

    def _remove(self, label):
        # Remove every entry with label (str): append a removal slot (m =
        # 0xFFFF, FORMAT.md index §6), power-loss safe as add; search no
        # longer returns them. Return how many entries it removed (0: nothing
        # written). The file does not shrink: rebuild it on the host to reclaim.
        if not isinstance(label, str):
            raise TypeError("label must be a str")
        gone = 0
        for i in range(self.count):
            if not self._is_dead(i) and self._label(i) == label:
                gone += 1
        if gone:
            self._check_grow(label.encode())
            self._write_slot(bytearray(self._slot), 0xFFFF, label.encode())
            self._mark_removed()
        return gone

    def _check_grow(self, lb):
        if not self._slot:
            raise ValueError("an m2v index version %d cannot grow: build it with --grow (version 2)" % self.version)
        if self._f is None:
            raise ValueError("add needs an index opened in file mode")
        if len(lb) > self._label_max:
            raise ValueError("label is %d bytes, this index holds at most %d" % (len(lb), self._label_max))

    def _write_slot(self, b, m, lb):
        # Fill in m, the label and the CRC-32 of slot b (its record written),
        # write it past the last committed entry and flush; return its number.
        d, S, n, f = self.dims, self._slot, self.count, self._f
        b[d] = m & 0xFF
        b[d + 1] = m >> 8
        b[d + 2] = len(lb)
        b[d + 3 : d + 3 + len(lb)] = lb
        from ._open import crc_fn

        crc = crc_fn()(memoryview(b)[: S - 4], (self._crc ^ n) & 0xFFFFFFFF)
        struct.pack_into("<I", b, S - 4, crc & 0xFFFFFFFF)
        if not self._rw:
            # reopen for writing once: open the new handle before closing the old
            w = open(self._path, "r+b")
            f.close()
            self._f = f = w
            self._rw = True
        f.seek(self._log_off + (n - self._base_n) * S)
        if f.write(b) != S:
            raise OSError("short write")
        f.flush()
        self.count = n + 1
        self.torn = max(0, self.torn - S)
        if self._dead is not None and n & 7 == 0:
            self._dead.append(0)  # room for the new entry's bit
        return n
