# Files of int8 rows built on the host: the index (m2v/index.py) and the
# classifier (m2v/classifier.py). What they share: opening the file (in place
# from ROMFS or a buffer, or streamed), the header, size, section and CRC-32
# checks, the labels, the query check (a text is embedded by the model the
# file was built with, a vector is bounded), and the scan of int8 rows with
# one 15-bit multiplier each (docs/FORMAT.md, index §4 and classifier §4).
import struct
from array import array

from micropython import const

from .model import _closing, _leave, _locked, _new_guard

_HDR_SIZE = const(64)


def open_src(path, mode):
    # -> (memoryview or None, open file or None). path: a file name (opened by
    # _open.open_path for mode) or a buffer (bytes, memoryview) holding the whole file.
    if isinstance(path, str):
        from ._open import open_path

        path = open_path(path, mode)
    if hasattr(path, "readinto"):
        return None, path
    return memoryview(path), None


def size_of(mv, f):
    if mv is not None:
        return len(mv)
    f.seek(0, 2)
    return f.tell()


def crc_ok(mv, f, size, want):
    # CRC-32 of bytes [16, size) against the header's want.
    from ._open import crc_of

    return crc_of(f if mv is None else mv, size) == want


class RowFile:
    # The file handling of an index or a classifier: a subclass sets WHAT (for
    # messages) and defines _open(check_crc, buf_bytes), which reads the header
    # with _header, checks its own fields, then calls _sized and _sections.
    # It keeps _lo_off, _lb_off, _lb_size: the label offsets and bytes.
    # Every public method holds the object's lock for its call (m2v/model.py:
    # @_locked); _methods run under it and call only _methods.
    def __init__(self, path, model, mode, check_crc, buf_bytes):
        self._guard = _new_guard()
        self.model = model
        self._mv, self._f = open_src(path, mode)
        try:
            self._open(check_crc, buf_bytes)
        except Exception:
            self.close()
            raise

    def _bad(self, msg):
        return ValueError("corrupt m2v " + self.WHAT + ": " + msg)

    def _read(self, off, n):
        if self._mv is not None:
            return self._mv[off : off + n]
        b = bytearray(n)
        self._f.seek(off)
        if self._f.readinto(b) != n:
            raise self._bad("short read")
        return b

    def _header(self, fmt, magic, version):
        # The header's fields, once magic and version (or one of a tuple of
        # versions) are right.
        total = self._total = size_of(self._mv, self._f)
        w = self.WHAT
        if total < _HDR_SIZE:
            raise ValueError("not an m2v %s: shorter than the 64-byte header" % w)
        h = struct.unpack_from(fmt, self._read(0, _HDR_SIZE), 0)
        if h[0] != magic:
            raise ValueError("not an m2v %s: bad magic" % w)
        vs = version if isinstance(version, tuple) else (version,)
        if h[1] not in vs:
            raise ValueError("unsupported m2v %s version %d; this reader supports %s"
                             % (w, h[1], ", ".join([str(v) for v in vs])))  # fmt: skip
        return h

    def _sized(self):
        total, size = self._total, self.file_size
        if total < size:
            raise ValueError("truncated m2v %s: %d bytes, header says %d" % (self.WHAT, total, size))
        if total > size:
            raise self._bad("%d bytes of trailing data" % (total - size))

    def _sections(self, spans, check_crc, crc):
        # (offset, size) of each section in file order: aligned, in order,
        # inside the file; then the CRC-32 of the whole file.
        end = _HDR_SIZE
        for off, size in spans:
            if off < end or off & 3 or off + size > self.file_size:
                raise self._bad("bad section offsets")
            end = off + size
        if check_crc and not crc_ok(self._mv, self._f, self.file_size, crc):
            raise self._bad("CRC-32 mismatch")

    def _text(self, j):
        # Label j, read from LABEL_OFFS and LABELS.
        o = struct.unpack_from("<II", self._read(self._lo_off + 4 * j, 8), 0)
        if o[0] > o[1] or o[1] > self._lb_size:
            raise self._bad("label offsets")
        # str() decodes the buffer itself: no bytes() copy (a label may be hundreds of bytes,
        # and on a small heap every such block is one more the heap's holes must find)
        return str(self._read(self._lb_off + o[0], o[1] - o[0]), "utf-8")

    @_locked
    def label(self, i):
        # The label of entry (index) or class (classifier) i.
        return self._label(i)

    def close(self):
        # Close the file (file mode), after a call in progress; calls
        # afterwards raise ValueError.
        g = self._guard
        if _closing(g):
            f = self._f
            if f:
                f.close()
                self._f = None
            _leave(g, f)


def query_into(q, query, model, model_crc, l1_max, what):
    # Fill q (array('h') of the file's dims) from a text or an int16 vector and
    # return sum |q|. A text is embedded with model (default: m2v's model),
    # which must be the one the file was built with (its header CRC-32); a
    # vector above l1_max is refused (the bound of the scan's sums).
    d = len(q)
    if isinstance(query, str):
        m = model
        if m is None:
            from . import _model

            m = _model()
        if getattr(m, "dims", d) != d:
            raise ValueError("the model gives %d dims, the %s holds %d" % (m.dims, what, d))
        mc = getattr(m, "crc", None)  # the model's header CRC-32, when the loader keeps it
        if mc is not None and mc != model_crc:
            raise ValueError("the %s was built with model crc32 %08x, not with this one (%08x)"
                             % (what, model_crc, mc))  # fmt: skip
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
    if l1 > l1_max:
        raise ValueError("query vector too large for this %s: sum of |q| above %d" % (what, l1_max))
    return l1


def new_q(d):
    return array("h", bytes(2 * d))


# ---- the scan (twin by design: the C core's scan_rows is the fast one, bit-identical,
# tests/test_index_device.py): score rows [0, n) of a buffer of records (d int8, u16 mult)
# and append (score, base + e) to cs/ci for each score above thr (every one
# when full == 0). Returns the number appended. Both compute
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


def scan():
    # The scan of the kind m2v.use selects with the tokenizer and pooling (m2v/tok.py):
    # the C core's scan_rows, or _scan_py
    from . import tok

    if tok.kind is None:
        from .model import _LOADING, _enter, _leave, _once

        _enter(_LOADING)  # as m2v.use: one at a time with the loads
        try:
            if tok.kind is None:
                _once("select", None)
        finally:
            _leave(_LOADING)
    return tok.core.scan_rows if tok.kind == "native" else _scan_py
