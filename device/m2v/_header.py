# The first half of a load (docs/FORMAT.md §1-2): the model's file or buffer, its header, the
# CRC-32, the section table and the structural checks. m2v/_load.py imports this module,
# runs it and drops it before it reads the sections, so that its code and messages are not in
# the heap beside the model's tables and caches: the peak of a load is that much lower (the
# smallest heap a load works in, tests/test_device_memory.py).
# The file's opening by mode and its CRC-32 are m2v/_open.py's (an index's too): imported with
# this module and, unless something imported it before, dropped with it.
import struct

from micropython import const

from ._load import ModelError, _err
from ._open import crc_of, open_path

# The header (docs/FORMAT.md §1), its fields in file order; the names of the
# indices are host_tools/binfmt.py's Header fields (tests/test_device_format.py
# checks both against it, on the device).
HEADER = "<4sHHIIHHHHIIiHHIHBBBBBBBBBBBBHI"
_HEADER_SIZE = const(64)
_H_VERSION = const(1)
_H_HEADER_SIZE = const(2)
_H_FILE_SIZE = const(3)
_H_CRC32 = const(4)
_H_N_SECTIONS = const(6)
_H_N_RECORDS = const(10)
_H_MULT_MAX = const(28)
_H_N_NODES = const(29)
# the fields kept as Model attributes, by index (the others are checked here, not kept)
KEEP = (None, None, None, None, None, None, None, "dims", "n_centroids", None, None, "unk_id", "max_length",
        None, "pretrunc_chars", "max_word_chars", "id_bits", "map_bits", "weight_bits", "rec_bits", "esc_base",
        "norm_bits", "out_shift", "h_shift", "g_shift", "t_shift", "sample_bytes")  # fmt: skip

# section ids (docs/FORMAT.md §2), copies of _load.py's (tests/test_device_format.py checks both)
_NORM_RUNS = const(2)
_N_SECTIONS = const(13)


def source(src, mode):
    # The model's file (mode "file", or a path outside /rom) or buffer (mode "buf": ROMFS mapped
    # in place, else the file read into RAM); src None: the board's default model
    if src is None:
        import os
        import sys

        from . import DEFAULT_PATHS

        # then model.m2v in each lib folder of sys.path, where mip installs
        # the model package (the first "/lib" entry not in /rom, as mip picks)
        paths = list(DEFAULT_PATHS)
        paths += [d + "/model.m2v" for d in sys.path if d.endswith("/lib") and not d.startswith("/rom")]
        for p in paths:
            try:
                os.stat(p)
                src = p
                break
            except OSError:
                pass
        if src is None:
            raise OSError("no model: flash one to " + " or ".join(paths))
    if isinstance(src, str):
        src = open_path(src, mode)
    return src


def table(t, hs, total):
    # The section table (§1): _N_SECTIONS entries u16 id, u16 0, u32 offset,
    # u32 size, after the header of hs bytes in a file of total bytes; returns
    # (offset, size) by section id.
    secs = [None] * (_N_SECTIONS + 1)
    for i in range(_N_SECTIONS):
        sid, zero, off, n = struct.unpack_from("<HHII", t, 12 * i)
        if zero or not 0 < sid <= _N_SECTIONS or secs[sid] or off < hs or off + n > total or off & 3:
            raise _err("bad section table entry %d" % i)
        secs[sid] = (off, n)
    return secs


def check(m, src, check_crc):
    # The header's fields into m (KEEP), after every check a header and section table allow;
    # returns (the file or None, the buffer or the file, the sections' (offset, size) by id,
    # the header's multiplier bound)
    if hasattr(src, "readinto"):
        f = src
        f.seek(0, 2)
        total = f.tell()
        f.seek(0)
        b = f.read(_HEADER_SIZE) or b""
    else:
        f = None
        src = memoryview(src)
        total = len(src)
        b = src[:_HEADER_SIZE]
    # header (§1)
    if len(b) < _HEADER_SIZE:
        raise ModelError("not an m2v model: %d bytes is shorter than the 64-byte header" % total)
    if bytes(b[:4]) != b"M2VB":
        raise ModelError("not an m2v model: magic %r, expected b'M2VB'" % bytes(b[:4]))
    h = struct.unpack_from(HEADER, b, 0)
    if h[_H_VERSION] != 1:
        raise ModelError("unsupported m2v format version %d; this reader supports version 1" % h[_H_VERSION])
    size = h[_H_FILE_SIZE]
    if total < size:
        raise ModelError("truncated m2v model: %d bytes, header says %d" % (total, size))
    if total > size:
        raise _err("%d bytes of trailing data" % (total - size))
    m.crc = h[_H_CRC32]  # lets an index refuse queries embedded with another model
    if check_crc:
        c = crc_of(f or src, total)
        if c != h[_H_CRC32]:
            raise _err("CRC-32 %08x does not match the header's %08x" % (c, h[_H_CRC32]))
    hs = h[_H_HEADER_SIZE]
    if hs != _HEADER_SIZE + 12 * h[_H_N_SECTIONS]:
        raise _err("header size does not match the section count")
    if h[_H_N_SECTIONS] != _N_SECTIONS:
        raise _err("%d sections, format version 1 has 13" % h[_H_N_SECTIONS])
    if f:
        f.seek(_HEADER_SIZE)
        t = f.read(hs - _HEADER_SIZE)
    else:
        t = src[_HEADER_SIZE:hs]
    secs = table(t, hs, total)
    # header fields and section sizes, before anything is read or allocated
    for i in range(len(KEEP)):
        if KEEP[i]:
            setattr(m, KEEP[i], h[i])
    d, nn, wb, rb, sb = m.dims, h[_H_N_NODES], m.weight_bits, m.rec_bits, m.sample_bytes
    nb, ml = m.norm_bits, m.max_length
    if rb != m.id_bits + m.map_bits + wb or not 0 < max(m.id_bits, m.map_bits, wb) <= 17:
        raise _err("inconsistent header fields (record bits)")
    if sb not in (2, 4) or not 3 <= m.h_shift <= 24 or m.g_shift > 24 or m.t_shift > 24 or nn < 2:
        raise _err("inconsistent header fields (trie)")
    if not 0 < m.esc_base <= 60 or m.max_word_chars < 1 or d < 1 or ml < 1 or m.out_shift > 15:
        raise _err("inconsistent header fields")
    mult_max = h[_H_MULT_MAX]
    if mult_max * 127 * ml >= 1 << 30 or not 0 < nb < 16 or d * ((1 << nb) - 1) ** 2 >= 1 << 30:
        raise _err("integer bounds violated")
    want = (0, 128, -1, -1, -1, 256, nn, (nn + 7) >> 3, (((nn - 1) >> m.h_shift) + 1) * sb, -1,
            (((nn - 1) >> m.t_shift) + 1) * sb, (h[_H_N_RECORDS] * rb + 7) >> 3, 2 << wb,
            d * m.n_centroids)  # fmt: skip
    for i in range(1, _N_SECTIONS + 1):
        n = secs[i][1]
        if want[i] >= 0 and n != want[i] or i == _NORM_RUNS and (n % 6 or not n):
            raise _err("section %d has %d bytes" % (i, n))
    return f, src, secs, mult_max
