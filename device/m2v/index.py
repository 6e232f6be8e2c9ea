# Semantic search over an index file built on the host (docs/FORMAT.md,
# "Index file"): python -m host_tools index MODEL TEXTS -o INDEX.
#
#   idx = m2v.Index("intents.m2vi")          # file: streamed; /rom/...: read in place
#   idx.search("lights off please", k=3)     # [(score, label), ...] best first
#   idx.cosine(score)                        # ~ cosine of query and entry
#
# The scan streams the entries through one small buffer (file mode) or reads
# them in place (ROMFS / buffer mode); it keeps only the k best (score, entry)
# pairs and reads the labels of those alone, so RAM does not grow with the
# index. Scores are integers, identical to host_tools.index.Index.search.
from array import array

from micropython import const

from . import _rows
from .model import enter, leave

_MAGIC = b"M2VI"
_VERSION = const(1)
_HDR = "<4sHHIIHBBIIIIIIIIIBBHI"
_HDR_SIZE = const(64)
_MULT_BITS = const(15)
_SMALL = const(0x40000000)  # 2**30: every partial sum stays below it
_BUF_ENTRIES = const(64)  # entries per scan call in buffer mode


# the scan loop (viper, or its pure-Python twin), shared with the classifier
use = _rows.use


class Index(_rows.RowFile):
    WHAT = "index"

    def __init__(self, path, model=None, mode=None, check_crc=True, buf_bytes=4096):
        # path: an index file; mode "buf" reads it in place (ROMFS memoryview) or
        # into RAM, "file" streams it through a buf_bytes buffer; None picks "buf"
        # for /rom paths. model embeds text queries (default: m2v's model).
        # src may also be a buffer (bytes, memoryview) holding the whole index.
        super().__init__(path, model, mode, check_crc, buf_bytes)

    def _open(self, check_crc, buf_bytes):
        h = self._header(_HDR, _MAGIC, _VERSION)
        (_, _, hs, self.file_size, crc, d, self.out_shift, self.score_shift, n, self.model_crc, self.n_labels,
         c_off, self._e_off, self._id_off, self._lo_off, self._lb_off, lb_size, self._id_bytes, flags, rs, _) = h
        if hs != _HDR_SIZE or flags:
            raise self._bad("bad header size or flags")
        self._sized()
        if rs != d + 2 or not 1 <= d <= 4096 or n < 1 or self.n_labels < 1 or self._id_bytes not in (2, 4):
            raise self._bad("inconsistent header fields")
        if self.score_shift > 15 or self.out_shift > 15:
            raise self._bad("inconsistent header fields")
        spans = ((c_off, 2 * d), (self._e_off, n * rs), (self._id_off, n * self._id_bytes),
                 (self._lo_off, 4 * (self.n_labels + 1)), (self._lb_off, lb_size))  # fmt: skip
        self._sections(spans, check_crc, crc)
        self._lb_size = lb_size
        self.dims = d
        self.count = n
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
            self._buf = bytearray(per * rs)
        else:
            self._per = _BUF_ENTRIES
            self._buf = None
        self._cs = array("i", bytes(4 * self._per))
        self._ci = array("i", bytes(4 * self._per))

    def __len__(self):
        return self.count

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

    def search_ids(self, query, k=5):
        # The k best (score, entry) pairs, best first; equal scores: lower entry first.
        enter(self._guard)
        try:
            return self._search_ids(query, k)
        finally:
            leave(self._guard)

    def _search_ids(self, query, k):
        if k < 1:
            raise ValueError("k must be at least 1")
        bias = self._query(query)
        d = self.dims
        rs = d + 2
        n = self.count
        q, cs, ci, per = self._q, self._cs, self._ci, self._per
        scan = _rows.scan
        ts = []  # scores, best first
        ti = []  # entries
        full = 0
        thr = 0
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
                got = f.readinto(buf) if cnt == per else f.readinto(memoryview(buf)[:want])
                if got != want:
                    raise self._bad("short read")
                nc = scan(buf, 0, cnt, d, q, bias, thr, full, e0, cs, ci)
            else:
                nc = scan(buf, self._e_off + e0 * rs, cnt, d, q, bias, thr, full, e0, cs, ci)
            for c in range(nc):
                s = cs[c]
                if full and s <= thr:
                    continue
                p = len(ts)
                while p > 0 and ts[p - 1] < s:
                    p -= 1
                ts.insert(p, s)
                ti.insert(p, ci[c])
                if len(ts) > k:
                    ts.pop()
                    ti.pop()
                if len(ts) == k:
                    full = 1
                    thr = ts[-1]
            e0 += cnt
        return [(ts[i], ti[i]) for i in range(len(ts))]

    def search(self, query, k=5):
        # The k best (score, label) pairs, best first; equal scores: lower entry first.
        enter(self._guard)
        try:
            return [(s, self._label(i)) for s, i in self._search_ids(query, k)]
        finally:
            leave(self._guard)

    def _label(self, i):
        if not 0 <= i < self.count:
            raise IndexError("entry out of range")
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
