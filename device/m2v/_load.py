# Loading a model binary (docs/FORMAT.md §1-2): header, section table, CRC-32
# and the structural checks. m2v.model imports this module for one load and
# then drops it, so its code and messages do not stay in the heap.
#
# check_crc=False trusts the file's contents: the header, the section table,
# the section sizes, the integer bounds and the ADDED table are still checked
# here, and at run time every table read is bounds-checked (IndexError becomes
# ValueError, centroid rows are range-checked), so a damaged file cannot hang
# the board or read outside the model; but damage inside the trie, the records
# or the centroids can then give a wrong vector. The CRC is the integrity guard.
import struct
from array import array

# header fields kept as Model attributes (None: checked here, not kept)
_KEEP = (None, None, None, None, None, None, None, "dims", "n_centroids", None, None, "unk_id", "max_length",
         None, "pretrunc_chars", "max_word_chars", "id_bits", "map_bits", "weight_bits", "rec_bits", "esc_base",
         "norm_bits", "out_shift", "h_shift", "g_shift", "t_shift", "sample_bytes")  # fmt: skip


def _err(msg):
    return ValueError("corrupt m2v model: " + msg)


# file mode, ram budget: the tokenizer's tables (normaliser runs and pool, trie)
# read into RAM, NODES (63 KB in the default model) first and the rest by
# their size there, so that the big blocks are taken while the heap is whole;
# what is left of the budget, or all of it when the tables do not fit, sizes
# the page cache
_RAM = (6, 2, 7, 3, 9, 8, 10)


def init(m, src, check_crc, mode, ram=0):
    m._f = None  # file mode: the page cache list, its [0] the file
    m.ram_tables = m.ram_need = m.cache_bytes = 0  # file mode: tables read into RAM, their size, page cache
    if mode not in (None, "buf", "file"):
        raise ValueError("mode must be 'buf' or 'file'")
    if not isinstance(ram, int) or ram < 0:
        raise ValueError("ram must be an int >= 0")
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
        f = open(src, "rb")
        if mode == "buf" or mode is None and src.startswith("/rom/"):
            try:
                src = memoryview(f)  # ROMFS: zero-copy view of flash
            except TypeError:
                src = f.read()
            f.close()
        else:
            src = f
    try:
        _init(m, src, check_crc, ram)
    except (IndexError, KeyError, ValueError) as e:
        _close(src)
        if isinstance(e, ValueError) and str(e)[:3] in ("cor", "not", "tru", "uns"):
            raise
        raise _err("inconsistent tables (%s)" % type(e).__name__)
    except BaseException:
        _close(src)
        raise


def _close(src):
    if hasattr(src, "close"):
        src.close()


def _init(m, src, check_crc, ram):
    if hasattr(src, "readinto"):
        f = src
        f.seek(0, 2)
        total = f.tell()
        f.seek(0)
        b = f.read(64) or b""
    else:
        f = None
        src = memoryview(src)
        total = len(src)
        b = src[:64]
    # header (§1)
    if len(b) < 64:
        raise ValueError("not an m2v model: %d bytes is shorter than the 64-byte header" % total)
    if bytes(b[:4]) != b"M2VB":
        raise ValueError("not an m2v model: magic %r, expected b'M2VB'" % bytes(b[:4]))
    h = struct.unpack_from("<4sHHIIHHHHIIiHHIHBBBBBBBBBBBBHI", b, 0)
    if h[1] != 1:
        raise ValueError("unsupported m2v format version %d; this reader supports version 1" % h[1])
    if total < h[3]:
        raise ValueError("truncated m2v model: %d bytes, header says %d" % (total, h[3]))
    if total > h[3]:
        raise _err("%d bytes of trailing data" % (total - h[3]))
    m.crc = h[4]  # lets an index refuse queries embedded with another model
    if check_crc:
        try:
            from binascii import crc32
        except ImportError:  # a port built without binascii.crc32
            from ._crc import crc32
        if f:
            b = bytearray(512)
            n = total - 16
            f.seek(16)
            c = 0
            while n >= 512:
                f.readinto(b)
                c = crc32(b, c)
                n -= 512
            c = crc32(f.read(n), c)
            b = None
        else:
            c = crc32(src[16:])
        c &= 0xFFFFFFFF
        if c != h[4]:
            raise _err("CRC-32 %08x does not match the header's %08x" % (c, h[4]))
    # section table (§1): 13 entries u16 id, u16 0, u32 offset, u32 size
    hs = h[2]
    if hs != 64 + 12 * h[6]:
        raise _err("header size does not match the section count")
    if h[6] != 13:
        raise _err("%d sections, format version 1 has 13" % h[6])
    if f:
        f.seek(64)
        t = f.read(hs - 64)
    else:
        t = src[64:hs]
    secs = [None] * 14
    for i in range(13):
        sid, zero, off, n = struct.unpack_from("<HHII", t, 12 * i)
        if zero or not 0 < sid < 14 or secs[sid] or off < hs or off + n > total or off & 3:
            raise _err("bad section table entry %d" % i)
        secs[sid] = (off, n)
    # header fields and section sizes, before anything is read or allocated
    for i in range(27):
        if _KEEP[i]:
            setattr(m, _KEEP[i], h[i])
    d, nn, wb, rb, sb, nb, ml = m.dims, h[29], m.weight_bits, m.rec_bits, m.sample_bytes, m.norm_bits, m.max_length
    if rb != m.id_bits + m.map_bits + wb or not 0 < max(m.id_bits, m.map_bits, wb) <= 17:
        raise _err("inconsistent header fields (record bits)")
    if sb not in (2, 4) or not 3 <= m.h_shift <= 24 or m.g_shift > 24 or m.t_shift > 24 or nn < 2:
        raise _err("inconsistent header fields (trie)")
    if not 0 < m.esc_base <= 60 or m.max_word_chars < 1 or d < 1 or ml < 1 or m.out_shift > 15:
        raise _err("inconsistent header fields")
    if h[28] * 127 * ml >= 1 << 30 or not 0 < nb < 16 or d * ((1 << nb) - 1) ** 2 >= 1 << 30:
        raise _err("integer bounds violated")
    want = (0, 128, -1, -1, -1, 256, nn, (nn + 7) >> 3, (((nn - 1) >> m.h_shift) + 1) * sb, -1,
            (((nn - 1) >> m.t_shift) + 1) * sb, (h[10] * rb + 7) >> 3, 2 << wb, d * m.n_centroids)  # fmt: skip
    for i in range(1, 14):
        n = secs[i][1]
        if want[i] >= 0 and n != want[i] or i == 2 and (n % 6 or not n):
            raise _err("section %d has %d bytes" % (i, n))
    m.acc = array("i", bytes(4 * d))  # early: one block of 4*dims bytes while the heap is not yet fragmented
    # the sections: in place, or small ones in RAM and the rest through the page cache
    s = [None] * 14
    if f:
        from .model import PS, FileSection, _filler

        # the tokenizer's tables in RAM, all or none: the tokenizer then runs
        # on buffers (ROMFS speed); records and centroid rows stay streamed
        need = 0
        for i in _RAM:
            need += secs[i][1]
        m.ram_need = need
        if ram >= need:
            for i in _RAM:
                off, n = secs[i]
                s[i] = bytearray(n)
                f.seek(off)
                if f.readinto(s[i]) != n:
                    raise ValueError("truncated m2v model: short read")
            m.ram_tables = need
            ram -= need
        # the page cache: 8 slots, or the largest power of two that the rest
        # of the budget holds (a slot: its page, its tag, its memoryview and
        # its list entry, 2**PS + 4 + 32 + 8 bytes at most)
        k = 8
        while 2 * k * ((1 << PS) + 44) <= ram:
            k *= 2
        m.cache_bytes = k << PS
        cb = bytearray(k << PS)
        mv = memoryview(cb)
        c = [None] * (5 + k)
        c[0], c[1], c[2], c[3] = f, array("i", b"\xff" * (4 * k)), cb, bytearray(d)
        for i in range(k):
            c[5 + i] = mv[i << PS : (i + 1) << PS]
        c[4] = _filler(c)
        for i in range(1, 14):
            if s[i] is not None:
                continue
            off, n = secs[i]
            f.seek(off)
            if i == 12:  # WCODES: int16, straight into the array
                w = array("h", bytes(n))
                f.readinto(w)
            elif n <= 256:
                s[i] = f.read(n)
            else:
                s[i] = FileSection(c, off, n)
        m._f = c
    else:
        for i in range(1, 14):
            off, n = secs[i]
            s[i] = src[off : off + n]
        w = array("h", bytes(s[12]))
    m._s = s
    m.wcodes = w
    for v in w:
        if v > h[28] or -v > h[28]:
            raise _err("multiplier exceeds the accumulator bound")
    r = s[2]
    if r[0] | (r[1] << 8) | (r[2] << 16) != 0x80:
        raise _err("bad normaliser runs")
    # ADDED (§4): u16 count, then per token u8 len, len bytes, u32 id, u16 row, u16 code
    a = s[4]
    p = 2
    added = []
    first = bytearray(256)  # first[b] != 0: an added token starts with byte b
    for i in range(a[0] | (a[1] << 8)):
        n = a[p]
        t = bytes(a[p + 1 : p + 1 + n])
        p += 1 + n
        tid, row, code = struct.unpack_from("<IHH", bytes(a[p : p + 8]), 0)
        if not n or row >= m.n_centroids or code >> wb:
            raise _err("bad added token %d" % i)
        added.append((t, len(t.decode()), tid, row, code))
        first[t[0]] = 1
        p += 8
    if p != len(a):
        raise _err("ADDED section size")
    added.sort(key=lambda t: -len(t[0]))  # leftmost, then longest
    m.added = added
    m.added_first = first
    m.ascii, m.runs, m.pool, m.records = s[1], s[2], s[3], s[11]  # the trie's tables: m._s[5:11]
    m.ntok = 0
