# Loading a model binary (docs/FORMAT.md): m2v/_header.py's checks of the header, the section
# table and the CRC-32, then the sections, in place or through file mode's page cache, and
# ram='s plan. m2v.model imports this module for one load and then drops it (and the header's
# module before the sections are read), so their code and messages do not stay in the heap.
#
# check_crc=False trusts the file's contents: the header, the section table,
# the section sizes, the integer bounds and the ADDED table are still checked
# here, and at run time every table read is bounds-checked (IndexError becomes
# ValueError, centroid rows are range-checked), so a damaged file cannot hang
# the board or read outside the model; but damage inside the trie, the records
# or the centroids can then give a wrong vector. The CRC is the integrity guard.
import struct
from array import array

from micropython import const

# section ids (docs/FORMAT.md §2; host_tools/binfmt.py)
_ASCII = const(1)
_NORM_RUNS = const(2)
_NORM_POOL = const(3)
_ADDED = const(4)
_SYMMAP = const(5)
_NODES = const(6)
_HASKIDS = const(7)
_HRANK = const(8)
_GSTART = const(9)
_TRANK = const(10)
_RECORDS = const(11)
_WCODES = const(12)
_CENTROIDS = const(13)
_N_SECTIONS = const(13)


class ModelError(ValueError):
    # A model this reader refuses, with the reason. init() raises it as a
    # plain ValueError, and turns every other error of a load (a table that
    # does not add up: IndexError, KeyError, a ValueError of struct or
    # decode) into one: told apart by type, not by message.
    pass


def _err(msg):
    return ModelError("corrupt m2v model: " + msg)


# file mode, ram budget: the tokenizer's tables (normaliser runs and pool, trie)
# read into RAM, NODES (63 KB in the default model) first and the rest by
# their size there, so that the big blocks are taken while the heap is whole;
# what is left of the budget, or all of it when the tables do not fit, sizes
# the page cache
_RAM = (_NODES, _NORM_RUNS, _HASKIDS, _NORM_POOL, _GSTART, _HRANK, _TRANK)
# a budget below the whole (the core reads the tables not in RAM, NODES among them, through
# the page cache; the Python twin reads every table through it then): spent in the order of
# file reads and instructions saved per byte, measured (scripts/file_reads.py replays the C
# core's reads through the caches; make bench BOARD=cortex-m0 counts reads and instructions):
# the native core's finer samples (m2v/_spend.py's T[ACCEL], 9 KB: 3,000-5,000 instructions
# per token, they also replace HRANK and TRANK), GSTART (1.3 KB), page slots up to
# _MAX_SLOTS, HASKIDS (7.9 KB) when _spend.py's head of NODES and first 8 rows still fit
# beside it; what is left goes to _spend.py (head of NODES, 8 rows, more groups, more rows).
# Replayed (direct-mapped slots): a 64-byte slot saves about 0.02 reads per token up to 128
# slots, 1 KB of NODES's head 0.55, a KB of row cache 0.15, a KB of HASKIDS 0.07; NORM_RUNS
# (8.6 KB) less than any of them; from 16 to 64 slots four ways save a fifth of the reads
# (model.WAYS). Beyond 128 slots the C core's 6 KB of more groups save more instructions than 128
# more slots' reads cost (make bench BOARD=cortex-m0, 192 KiB heap: 1.42-1.47x ROMFS with 128
# slots, the groups and 32 rows, 1.52-1.57x with 256 slots and 16 rows).
# the page cache's slots at most
_MAX_SLOTS = const(128)
_PART = (_GSTART, -_MAX_SLOTS, _HASKIDS)  # a section id, or -slots: the page cache up to that
_HEAD = const(1024)  # m2v/_spend.py's first KB of the head of NODES (room kept beside HASKIDS)
# ram=None: the heap the model may spend on speed (tables in RAM, page cache, the native
# core's tables, head of NODES and row cache), from F, the heap free at load (share(), the
# one definition; a buffer model's share goes to the native core's tables, m2v/_spend.py):
# nothing when F is _LEAVE or less (then the application and the embed's own few KB need all
# of it: the ram=0 footprint, which works in a 35 KiB heap); else a third of what F holds
# beyond _KEEP, but at least 16 KiB (the C core's essentials for the default model, _PART's
# first steps: its finer samples 9 KB, GSTART 1.3 KB, 64 page slots of four ways 4.4 KB and
# NODES's first KB: 2.6 file reads per token), never more than F - _LEAVE (so no step where
# the share starts), and never more than the larger of _MAX_TOTAL less the C core's machine
# code (m2v/_setup.py _code(): on a board the core and the share together) and F/8. The heap
# belongs to the application: at least 32 KiB of F stays free, about two thirds on boards
# with room, seven eighths on a large heap; the cap keeps a board's model from taking what the
# application may want later, while a heap of megabytes (the unix port, an ESP32-S3 with
# PSRAM: F/8 binds from about 330 KiB free up) lets the model take its speed from it: from
# about 700 KB free all of the tables (87 KB for the default model), and from about 5.2 MB
# free (the unix port's 8 MB heap) a row cache that holds every centroid row too (2,048 slots
# of 260 B): file mode at about ROMFS speed. Measured on the emulated boards (make bench
# BOARD=..., the bench's texts in the heap): _KEEP, on a 100 KiB heap a third of F beyond
# 16 KiB (about 19 KiB) buys the essentials and not yet 128 slots (20.4 KiB), so that the
# package holds 38.8 KB on cortex-m0 (40.7 KB on rv32imc, 40.4 KB on xtensa: their C cores
# are 1.8 and 1.7 KB larger); a third beyond 8 KiB bought 128 slots there (42.4 KB held, 2.2
# reads per token). _MAX_TOTAL, on a 192 KiB heap: the package holds 62.4-64.0 KB on the four
# boards at 1.36-1.49x ROMFS (a cap on the share alone, 44 KiB, let xtensa's 21.5 KB core of
# the time hold 69.1 KB). An explicit ram= buys more speed.
_KEEP = const(16 * 1024)
_CORE_SHARE = const(16 * 1024)
_MAX_TOTAL = const(58 * 1024 + 512)
_LEAVE = const(32 * 1024)
# ram=None and the heap's fragments too small for the tables: the page cache alone
_FRAG_CACHE = const(4 * 1024)


def share(free, code=0):
    # ram=None's budget for F = free bytes of heap, beside a C core of code bytes (above)
    s = min(max((free - _KEEP) // 3, _CORE_SHARE), free - _LEAVE, max(_MAX_TOTAL - code, free >> 3))
    return s if s > 0 else 0


def _auto():
    # share() of the heap free now, less the C core's where the load will import it
    f = _free()
    if f <= _LEAVE:  # nothing is spent (and tok.py is not imported beside the loader)
        return 0
    from . import _setup, tok

    code = _setup._code()  # (m2v/model.py drops _setup after the load)
    return share(f - (0 if tok.C else code), code)


def page_cache(f, k, d):
    # model.PageCache for file f, k slots (a power of two, at least 4) and rows of d bytes:
    # every slot empty (tag -1); from model.WAYS_FROM to below model.DIRECT slots, sets of
    # model.WAYS ways, each set's next way 0 (scripts/file_reads.py builds its caches here too)
    from .model import DIRECT, PS, WAYS, WAYS_FROM, PageCache, _array

    pc = PageCache()
    w = 2 if WAYS_FROM <= k < DIRECT else 0  # log2 of WAYS (4)
    t = _array("i", k + (k // WAYS if w else 0))  # one block
    for s in range(k):
        t[s] = -1
    pc.file, pc.tags, pc.buf, pc.sm, pc.wsh, pc.row = f, t, bytearray(k << PS), k - 1, w, bytearray(d)
    # a page read through the file's methods lands in the row buffer's first bytes
    pc.page = memoryview(pc.row)[: 1 << PS] if d >= 1 << PS else bytearray(1 << PS)
    return pc


def _core(nn):
    # the native core's finer samples with 1,024 groups for a trie of nn nodes, as m2v/_spend.py
    # sizes them (tests/test_device_layout.py runs both): what the budget keeps aside for them
    # (643: _spend.py's _FIXED, the run index, the roots' children and the header)
    return 2 * (1024 + (nn >> 5) + (nn >> 6) + 2 + 643) if nn < 65536 else 0


def _free():
    # the free heap, collected first
    import gc

    gc.collect()
    return gc.mem_free()


def init(m, src, check_crc, mode, ram=None):
    m.cache = None  # file mode: the page cache (model.PageCache), holding the file
    m.ram_tables = m.ram_need = m.cache_bytes = 0  # file mode: tables read into RAM, their size, page cache
    m.ram_left = 0  # what the budget leaves after the tables and page cache: the native core's (tok.py)
    if mode not in (None, "buf", "file"):
        raise ValueError("mode must be 'buf' or 'file'")
    if ram is not None and (not isinstance(ram, int) or ram < 0):
        raise ValueError("ram must be None or an int >= 0")
    import gc
    import sys

    from .model import _PKG, _drop

    opened = _PKG + "._open" in sys.modules  # m2v/_open.py, which _header.py imports
    from . import _header as hd

    try:
        try:
            src = hd.source(src, mode)  # (no model: OSError, nothing opened)
            f, src, secs, mult_max = hd.check(m, src, check_crc)
        finally:
            # before the sections are read: the first half's code leaves the heap, and the
            # sections' objects take its place rather than the heap above it
            hd = None
            _drop("_header")
            if not opened:
                _drop("_open")
        gc.collect()
        _init(m, f, src, secs, mult_max, ram)
    except ModelError as e:
        _close(src)
        raise ValueError(e.args[0]) from None
    except (IndexError, KeyError, ValueError) as e:
        _close(src)
        raise ValueError("corrupt m2v model: inconsistent tables (%s)" % type(e).__name__) from None
    except BaseException:
        _close(src)
        raise


def _close(src):
    if hasattr(src, "close"):
        src.close()


def _init(m, f, src, secs, mult_max, ram):
    # The second half of a load (the first: m2v/_header.py check): the sections, in place or
    # through the page cache, the tables in RAM, the budget's plan, the ADDED tokens
    d, wb = m.dims, m.weight_bits
    from .model import _array

    m.acc = _array("i", d)  # early: one block of 4*dims bytes while the heap is not yet fragmented
    # the sections: in place, or small ones in RAM and the rest through the page cache
    s = [None] * (_N_SECTIONS + 1)
    if f:
        from .model import PS, FileSection

        # the tokenizer's tables in RAM, all or none: the tokenizer then runs
        # on buffers (ROMFS speed); records and centroid rows stay streamed
        need = 0
        for i in _RAM:
            need += secs[i][1]
        m.ram_need = need
        slot = (1 << PS) + 5  # a page slot's bytes: its page, its tag, a share of its set's word (model.PageCache)
        auto = ram is None
        if auto:  # the share of the free heap (share()) the C core will leave (m2v/_setup.py _code())
            ram = _auto()
        # the plan: the tables to read into RAM (part) and the page cache's slots (k, a power of
        # two; a slot costs its page and its tag), spending the budget in the order below
        # (_PART); core: the native core's finer samples, m2v/_spend.py's first spending, kept
        # aside here
        core = _core(secs[_NODES][1])
        k = 4 if auto and not ram else 8  # ram=None on a heap with nothing to spare: the least
        if ram < need:  # some of the tables
            part = []
            a = ram - core - k * slot
            for i in _PART:
                if i < 0:  # page slots, up to -i (doubling k costs k slots more)
                    while k < -i and k * slot <= a:
                        a -= k * slot
                        k *= 2
                elif secs[i][1] + (_HEAD + 8 * (4 + d) if i == _HASKIDS else 0) <= a:
                    part.append(i)
                    a -= secs[i][1]
        else:  # all of the tables: the cache holds only records: beside the native core's first
            # 8 rows (they save more reads per byte than pages of records), 64 slots, beyond that
            # half of what is left, the rest to the row cache
            part = _RAM
            a = ram - need - core - 8 * (4 + d)
            a = max(a >> 1, min(a, 64 * slot))
            while 2 * k * slot <= a and k < _MAX_SLOTS:
                k *= 2
        try:
            for i in part:
                off, n = secs[i]
                s[i] = bytearray(n)
                f.seek(off)
                if f.readinto(s[i]) != n:
                    raise ModelError("truncated m2v model: short read")
                m.ram_tables += n
            ram -= m.ram_tables
        except MemoryError:
            if not auto:
                raise  # the budget asked for: the heap's fragments cannot hold the tables
            # ram=None: the free heap was enough in total but not in one block (fragments):
            # the page cache alone, as for a heap too small
            for i in part:
                s[i] = None
            m.ram_tables = 0
            ram = _FRAG_CACHE
            k = 8
        m.cache_bytes = k << PS
        # what the budget leaves for the native core's tables, head of NODES and row cache
        m.ram_left = max(0, ram - k * slot)
        pc = page_cache(f, k, d)
        for i in range(1, _N_SECTIONS + 1):
            if s[i] is not None:
                continue
            off, n = secs[i]
            f.seek(off)
            if i == _WCODES:  # int16, straight into the array
                w = _array("h", n >> 1, None)
                f.readinto(w)
            elif n <= 256:
                s[i] = f.read(n)
            else:
                s[i] = FileSection(pc, off, n)
        if isinstance(s[_NODES], FileSection):
            # the top of the trie in RAM, read by the C core in place of the cache (m2v_native.c
            # tab_t): m2v/_spend.py's (the Python twin does not read it); None: no head (an
            # attribute either way: the C core's lookup of a missing one costs more per call)
            s[_NODES].head = None
        m.cache = pc
    else:
        for i in range(1, _N_SECTIONS + 1):
            off, n = secs[i]
            s[i] = src[off : off + n]
        w = array("h", bytes(s[_WCODES]))
        m.ram_left = _auto()  # the native core's tables (m2v/_spend.py), ram=None's share
    m._s = s
    m.wcodes = w
    for v in w:
        if v > mult_max or -v > mult_max:
            raise _err("multiplier exceeds the accumulator bound")
    r = s[_NORM_RUNS]
    if r[0] | (r[1] << 8) | (r[2] << 16) != 0x80:
        raise _err("bad normaliser runs")
    # ADDED (§4): u16 count, then per token u8 len, len bytes, u32 id, u16 row, u16 code
    a = s[_ADDED]
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
    m.ascii, m.runs, m.pool, m.records = s[_ASCII], s[_NORM_RUNS], s[_NORM_POOL], s[_RECORDS]  # the trie's: m._s[5:11]
