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
import struct
from array import array

import micropython
from micropython import const

_MAGIC = b"M2VI"
_VERSION = const(1)
_HDR = "<4sHHIIHBBIIIIIIIIIBBHI"
_HDR_SIZE = const(64)
_MULT_BITS = const(15)
_SMALL = const(0x40000000)  # 2**30: every partial sum stays below it
_BUF_ENTRIES = const(64)  # entries per scan call in buffer mode


def _bad(msg):
    return ValueError("corrupt m2v index: " + msg)


# ---- the scan: score entries [0, n) of a buffer of records (d int8, u16 mult)
# and append (score, base + e) to cs/ci for each score above thr (every one
# when full == 0). Returns the number appended. Both versions compute
#   dot   = sum q[j] * v[j]                      |dot| <= 127 * L1(q) < 2**30
#   score = bias + floor(dot * mult / 2**15)     split so no product reaches 2**30
def _scan_py(buf, off, n, d, q, bias, thr, full, base, cs, ci):
    nc = 0
    rs = d + 2
    for e in range(n):
        o = off + e * rs
        acc = 0
        for j in range(d):
            acc += q[j] * ((buf[o + j] ^ 0x80) - 0x80)
        m = buf[o + d] | (buf[o + d + 1] << 8)
        s = bias + (acc >> 15) * m + (((acc & 0x7FFF) * m) >> 15)
        if full == 0 or s > thr:
            cs[nc] = s
            ci[nc] = base + e
            nc += 1
    return nc


try:

    @micropython.viper
    def _scan_viper(buf, off: int, n: int, d: int, q, bias: int, thr: int, full: int, base: int, cs, ci) -> int:
        p = ptr8(buf)
        qq = ptr16(q)
        s32 = ptr32(cs)
        i32 = ptr32(ci)
        nc = 0
        rs = d + 2
        e = 0
        while e < n:
            o = off + e * rs
            acc = 0
            j = 0
            while j < d:
                acc += ((int(qq[j]) ^ 0x8000) - 0x8000) * ((int(p[o + j]) ^ 0x80) - 0x80)
                j += 1
            m = int(p[o + d]) | (int(p[o + d + 1]) << 8)
            s = bias + (acc >> 15) * m + (((acc & 0x7FFF) * m) >> 15)
            if full == 0 or s > thr:
                s32[nc] = s
                i32[nc] = base + e
                nc += 1
            e += 1
        return nc

    _scan = _scan_viper
except Exception:  # a port or build without the viper emitter
    _scan_viper = None
    _scan = _scan_py


def use(impl):
    # Select the scan loop: "viper" or "py" (bit-identical; the tests run both).
    global _scan
    if impl == "viper":
        if _scan_viper is None:
            raise ValueError("viper is not available on this port")
        _scan = _scan_viper
    elif impl == "py":
        _scan = _scan_py
    else:
        raise ValueError("impl must be 'viper' or 'py'")


class Index:
    def __init__(self, path, model=None, mode=None, check_crc=True, buf_bytes=4096):
        # path: an index file; mode "buf" reads it in place (ROMFS memoryview) or
        # into RAM, "file" streams it through a buf_bytes buffer; None picks "buf"
        # for /rom paths. model embeds text queries (default: m2v's model).
        # src may also be a buffer (bytes, memoryview) holding the whole index.
        self._f = None
        self._mv = None
        self.model = model
        if isinstance(path, str):
            from ._open import open_path

            path = open_path(path, mode)
        if hasattr(path, "readinto"):
            self._f = path
        else:
            self._mv = memoryview(path)
        try:
            self._open(check_crc, buf_bytes)
        except Exception:
            self.close()
            raise

    def _read(self, off, n):
        if self._mv is not None:
            return self._mv[off : off + n]
        b = bytearray(n)
        self._f.seek(off)
        if self._f.readinto(b) != n:
            raise _bad("short read")
        return b

    def _open(self, check_crc, buf_bytes):
        if self._mv is not None:
            total = len(self._mv)
        else:
            self._f.seek(0, 2)
            total = self._f.tell()
        if total < _HDR_SIZE:
            raise ValueError("not an m2v index: shorter than the 64-byte header")
        h = struct.unpack_from(_HDR, self._read(0, _HDR_SIZE), 0)
        if h[0] != _MAGIC:
            raise ValueError("not an m2v index: bad magic")
        if h[1] != _VERSION:
            raise ValueError("unsupported m2v index version %d; this reader supports %d" % (h[1], _VERSION))
        (_, _, hs, self.file_size, crc, d, self.out_shift, self.score_shift, n, self.model_crc, self.n_labels,
         c_off, self._e_off, self._id_off, self._lo_off, self._lb_off, lb_size, self._id_bytes, flags, rs, _) = h
        if hs != _HDR_SIZE or flags:
            raise _bad("bad header size or flags")
        if total < self.file_size:
            raise ValueError("truncated m2v index: %d bytes, header says %d" % (total, self.file_size))
        if total > self.file_size:
            raise _bad("%d bytes of trailing data" % (total - self.file_size))
        if rs != d + 2 or not 1 <= d <= 4096 or n < 1 or self.n_labels < 1 or self._id_bytes not in (2, 4):
            raise _bad("inconsistent header fields")
        if self.score_shift > 15 or self.out_shift > 15:
            raise _bad("inconsistent header fields")
        end = _HDR_SIZE
        for off, size in ((c_off, 2 * d), (self._e_off, n * rs), (self._id_off, n * self._id_bytes),
                          (self._lo_off, 4 * (self.n_labels + 1)), (self._lb_off, lb_size)):  # fmt: skip
            if off < end or off & 3 or off + size > self.file_size:
                raise _bad("bad section offsets")
            end = off + size
        self._lb_size = lb_size
        self.dims = d
        self.count = n
        if check_crc:
            self._check_crc(crc)
        self.center = array("h", bytes(self._read(c_off, 2 * d)))
        cm = 0
        for v in self.center:
            if v < 0:
                v = -v
            if v > cm:
                cm = v
        # sum |q[d]| must stay below this (FORMAT.md, index file §4)
        self.l1_max = (_SMALL - 1 - d) // (128 + (cm >> self.score_shift))
        self._q = array("h", bytes(2 * d))
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

    def _check_crc(self, want):
        from ._open import crc_of

        if crc_of(self._f if self._mv is None else self._mv, self.file_size) != want:
            raise _bad("CRC-32 mismatch")

    def __len__(self):
        return self.count

    def close(self):
        if self._f:
            self._f.close()
            self._f = None

    # ---- queries
    def _query(self, query):
        # Fill self._q (array('h')) from a text or an int16 vector; return the bias.
        q = self._q
        d = self.dims
        if isinstance(query, str):
            m = self.model
            if m is None:
                from . import _model

                m = _model()
            if getattr(m, "dims", d) != d:
                raise ValueError("the model gives %d dims, the index holds %d" % (m.dims, d))
            mc = getattr(m, "crc", None)  # the model's header CRC-32, when the loader keeps it
            if mc is not None and mc != self.model_crc:
                raise ValueError("the index was built with model crc32 %08x, not with this one (%08x)"
                                 % (self.model_crc, mc))  # fmt: skip
            m.embed_into(query, q)
        else:
            if len(query) != d:
                raise ValueError("query vector must be %d integers" % d)
            for j in range(d):
                v = query[j]
                if v < -32768 or v > 32767:
                    raise ValueError("query vector components must fit int16")
                q[j] = v
        l1 = 0
        for j in range(d):
            v = q[j]
            l1 += -v if v < 0 else v
        if l1 > self.l1_max:
            raise ValueError("query vector too large for this index: sum of |q| above %d" % self.l1_max)
        c = self.center
        t = self.score_shift
        bias = 0
        for j in range(d):
            bias += (q[j] * c[j]) >> t
        return bias

    def search_ids(self, query, k=5):
        # The k best (score, entry) pairs, best first; equal scores: lower entry first.
        if k < 1:
            raise ValueError("k must be at least 1")
        bias = self._query(query)
        d = self.dims
        rs = d + 2
        n = self.count
        q, cs, ci, per = self._q, self._cs, self._ci, self._per
        scan = _scan
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
                    raise _bad("short read")
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
        return [(s, self.label(i)) for s, i in self.search_ids(query, k)]

    def label(self, i):
        if not 0 <= i < self.count:
            raise IndexError("entry out of range")
        ib = self._id_bytes
        b = self._read(self._id_off + i * ib, ib)
        lid = b[0] | (b[1] << 8)
        if ib == 4:
            lid |= (b[2] << 16) | (b[3] << 24)
        if lid >= self.n_labels:
            raise _bad("label id out of range")
        o = struct.unpack_from("<II", bytes(self._read(self._lo_off + 4 * lid, 8)), 0)
        if o[0] > o[1] or o[1] > self._lb_size:
            raise _bad("label offsets")
        return str(bytes(self._read(self._lb_off + o[0], o[1] - o[0])), "utf-8")

    def cosine(self, score):
        # Approximate cosine of query and entry for a score.
        return score * 2.0 ** (self.score_shift - 2 * self.out_shift)
