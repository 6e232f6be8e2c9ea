# Twin by design: the readable pure-Python core of the tokenizer, run where the C core
# (device/native/m2v_native.c: scan, flush, field) does not load, and the
# oracle it is tested against on the board (tests/test_device_parity.py runs both).
# Tokenizer hot path (docs/FORMAT.md §3, §5): the ASCII scan, the WordPiece trie walk
# and the record decode, as functions with the C core's signatures; they index anything
# that indexes like bytes (buffers, or file sections through the page cache). Imported
# only by m2v.use("py") or where the C core does not load. Both keep their state in one
# array("i") `c` and read the tables from one list `T`, so the tokenizer can switch
# between them at any point. No allocation on this path. Twin by design within this
# file: wordpiece and scan read their tables and state into locals alike (locals are fast).
from micropython import const

# The one definition of the layouts of T and c. scripts/gen_layout.py generates from it
# device/native/layout.h (the C core's enums) and the const() lines of the other modules
# (tok.py, _spend.py: the entries each uses); tests/test_device_layout.py
# fails when one is stale.
# T: the tables and the scratch buffers
T_ASCII = const(0)
T_SYMMAP = const(1)
T_NODES = const(2)
T_HASKIDS = const(3)
T_HRANK = const(4)
T_GSTART = const(5)
T_TRANK = const(6)
T_RECORDS = const(7)
T_FIRST = const(8)  # first[b]: an added token starts with byte b
T_WORD = const(9)  # UTF-8 bytes of the current word
T_OUT = const(10)  # record numbers of the tokens not yet delivered
T_RUNS = const(11)
# ... file mode: the page cache (model.PageCache), read by the C core
T_CACHE = const(12)  # its pages, one bytearray
T_TAGS = const(13)  # the page number in each slot
T_FILE = const(14)
T_PAGE = const(15)  # one page's buffer: a Python-level stream reads a page into it (model.PageCache.page)
# ... the native core's RAM tables (finer samples of the trie), a buffer of 16-bit entries
# (m2v/_spend.py) that it fills on its first call (None: none; the twin does not read it)
T_ACCEL = const(16)
# ... for the native core's embed(): the accumulator, CENTROIDS (None in file mode), WCODES
T_ACC = const(17)
T_CEN = const(18)
T_WCODES = const(19)
T_ROW = const(20)  # file mode: the buffer a centroid row is read into (model.PageCache.row)
# file mode, native core: its centroid-row cache, a bytearray: C_NRC int32 tags (-1: empty), then the rows
T_RCACHE = const(21)
# ... for the native core's scan and embed(): NORM_POOL (STR strings) and ADDED (the section as
# it is: u16 count, then per token u8 len, its bytes, u32 id, u16 row, u16 code)
T_POOL = const(22)
T_ADDED = const(23)
# ... for the native core's embed() in one call: the model's lock (model._new_guard: the call holds
# it, so that Model.embed_into needs no try/finally) and model.impl (the call records itself)
T_GUARD = const(24)
T_IMPL = const(25)
T_LEN = const(26)  # the entries of T

# c: parameters (set once) ...
C_HS = const(0)
C_GS = const(1)
C_TS = const(2)
C_SB = const(3)
C_ESC = const(4)
C_RB = const(5)
C_MWC = const(6)  # max_word_chars
C_MAXLEN = const(7)
C_LIMIT = const(8)  # pretrunc_chars
C_ROOM = const(9)  # scan returns when more than this many tokens wait in OUT
C_NREC = const(10)  # len(RECORDS)
C_NRUNS = const(11)  # entries in NORM_RUNS
C_RLO = const(12)  # cache of the last NORM_RUNS lookup: [RLO, RHI) is run RI
C_RHI = const(13)
C_RI = const(14)
C_NG = const(15)  # the native core's: entries of its group table (0: not built yet, -1: none)
# ... state (reset per text) ...
C_WN = const(16)  # bytes in WORD
C_WC = const(17)  # code points in the current word
C_COUNT = const(18)  # tokens so far, [UNK] included (max_length cut)
C_DONE = const(19)
C_CHARS = const(20)  # code points read (pretrunc cut)
C_NOUT = const(21)  # entries in OUT
C_I = const(22)  # byte position in the text
C_END = const(24)  # end of the state
# ... file mode (24-32: the C core's; 24-28, 31-32 free): the records' file offset, the
# cache's ways and slot mask
C_ORC = const(29)  # RECORDS
C_WSH = const(30)  # the page cache's ways a set, log2: 0 (one) or 2 (model.WAYS)
C_SM = const(33)  # slots - 1
# ... the pooling parameters of the native core's embed()
C_IB = const(34)  # id_bits
C_MB = const(35)  # map_bits
C_WB = const(36)  # weight_bits
C_DIMS = const(37)
C_NB = const(38)  # norm_bits
C_Q = const(39)  # out_shift
C_OCEN = const(40)  # file mode: CENTROIDS' file offset
C_NCEN = const(41)  # n_centroids
C_NRC = const(42)  # rows in T[RCACHE], a power of two
C_UNK = const(43)  # unk_id: an added token the native embed() counts but does not pool
C_RLO2 = const(44)  # the native core's second NORM_RUNS cache entry: the run before [RLO, RHI)
C_RHI2 = const(45)
C_RI2 = const(46)
# the native core's: the file offset and size + 1 of each table it may read through the page
# cache (its tab_init, in its order: NODES, HASKIDS, HRANK, GSTART, TRANK, RUNS, POOL, ADDED),
# looked up from the FileSection on the first call (size 0: not yet, -1: a buffer); about
# 4,000 instructions a call less on cortex-m0 in file mode than attribute lookups every call
C_SEC = const(47)
C_LEN = const(63)


def _sample_py(sec, k, sb):
    if sb == 2:
        i = k << 1
        return sec[i] | (sec[i + 1] << 8)
    i = k << 2
    return sec[i] | (sec[i + 1] << 8) | (sec[i + 2] << 16) | (sec[i + 3] << 24)


_POP = bytes(bin(i).count("1") for i in range(256))


def _child_py(T, c, node, sym):
    hk = T[T_HASKIDS]
    if not (hk[node >> 3] >> (node & 7)) & 1:
        return -1
    # rank of HASKIDS before node (the number of the group holding its
    # children): from the nearer of the samples before and after node
    hs = c[C_HS]
    sb = c[C_SB]
    nodes = T[T_NODES]
    q = node >> hs
    end = node >> 3
    pop = _POP
    if node & (1 << (hs - 1)) and (q + 1) << hs < len(nodes):
        g = _sample_py(T[T_HRANK], q + 1, sb)
        i = ((q + 1) << (hs - 3)) - 1
        while i > end:
            g -= pop[hk[i]]
            i -= 1
        g -= pop[hk[end] >> (node & 7)]
    else:
        g = _sample_py(T[T_HRANK], q, sb)
        i = q << (hs - 3)
        while i < end:
            g += pop[hk[i]]
            i += 1
        g += pop[hk[end] & ((1 << (node & 7)) - 1)]
    # start of group g, from the nearer sample: after the sample's group,
    # skip k groups; before the next one, go back over 2**gs - k groups to
    # the last node of group g - 1
    gs = c[C_GS]
    gst = T[T_GSTART]
    q = g >> gs
    k = g & ((1 << gs) - 1)
    if k > (1 << gs) >> 1 and (q + 2) * sb <= len(gst):
        k = (1 << gs) - k
        j = _sample_py(gst, q + 1, sb) - 1
        while True:
            if j < 0:
                raise IndexError  # a damaged model (bytes would wrap)
            if nodes[j] & 0x80:
                if not k:
                    break
                k -= 1
            j -= 1
        j += 1
    else:
        j = _sample_py(gst, q, sb)
        while k:
            if nodes[j] & 0x80:
                k -= 1
            j += 1
    while True:
        nb = nodes[j]
        s = nb & 63
        if s == sym:
            return j
        if s > sym or nb & 0x80:
            return -1
        j += 1


def _rank_t_py(T, c, node):
    # terminal nodes before node, from the nearer of the two samples around it
    ts = c[C_TS]
    nodes = T[T_NODES]
    q = node >> ts
    if node & ((1 << ts) - 1) > (1 << ts) >> 1 and (q + 1) << ts < len(nodes):
        r = _sample_py(T[T_TRANK], q + 1, c[C_SB])
        j = ((q + 1) << ts) - 1
        while j >= node:
            r -= (nodes[j] >> 6) & 1
            j -= 1
        return r
    r = _sample_py(T[T_TRANK], q, c[C_SB])
    j = q << ts
    while j < node:
        r += (nodes[j] >> 6) & 1
        j += 1
    return r


def wordpiece(T, c, n):
    # Greedy longest match over WORD[0:n]; writes record numbers to OUT from
    # OUT[NOUT] on and returns their count, or -1 when the word is unknown.
    w = T[T_WORD]
    symmap = T[T_SYMMAP]
    nodes = T[T_NODES]
    out = T[T_OUT]
    esc = c[C_ESC]
    o = c[C_NOUT]
    np_ = 0
    pos = 0
    while pos < n:
        node = 0 if pos == 0 else 1
        best = -1
        best_end = 0
        i = pos
        while i < n:
            b = w[i]
            s = symmap[b]
            if s == 255:
                node = _child_py(T, c, node, esc + (b >> 6))
                if node < 0:
                    break
                s = b & 63
            node = _child_py(T, c, node, s)
            if node < 0:
                break
            i += 1
            if nodes[node] & 0x40:
                best = node
                best_end = i
        if best < 0:
            return -1
        out[o + np_] = _rank_t_py(T, c, best)
        np_ += 1
        pos = best_end
    return np_


def flush(T, c):
    # End the current word: WordPiece it, queue its records in OUT, count.
    wc = c[C_WC]
    if wc == 0 or c[C_DONE]:
        c[C_WN] = c[C_WC] = 0
        return
    n = -1 if wc > c[C_MWC] else wordpiece(T, c, c[C_WN])
    c[C_WN] = c[C_WC] = 0
    count = c[C_COUNT]
    if n < 0:
        n = 0
        count += 1  # [UNK]: counted for the max_length cut, then dropped
    else:
        n = min(n, c[C_MAXLEN] - count)
        count += n
        c[C_NOUT] += n
    c[C_COUNT] = count
    if count >= c[C_MAXLEN]:
        c[C_DONE] = 1


def find_run(T, c, cp):
    # Index of the NORM_RUNS entry holding cp (binary search, one-run cache).
    if c[C_RLO] <= cp < c[C_RHI]:
        return c[C_RI]
    runs = T[T_RUNS]
    lo = 0
    hi = c[C_NRUNS] - 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        o = mid * 6
        if runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16) <= cp:
            lo = mid
        else:
            hi = mid - 1
    o = lo * 6
    c[C_RLO] = runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16)
    o += 6
    c[C_RHI] = runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16) if lo + 1 < c[C_NRUNS] else 0x110000
    c[C_RI] = lo
    return lo


def _emit(T, c, cp, iso):
    # Code point cp into the current word as UTF-8 (past max_word_chars only counted: the
    # word will be [UNK]); iso: a word of its own (punctuation, CJK).
    if iso:
        flush(T, c)
    wc = c[C_WC] + 1
    c[C_WC] = wc
    if wc <= c[C_MWC]:
        w = T[T_WORD]
        n = c[C_WN]
        if cp < 0x80:
            w[n] = cp
            n += 1
        elif cp < 0x800:
            w[n] = 0xC0 | (cp >> 6)
            w[n + 1] = 0x80 | (cp & 63)
            n += 2
        elif cp < 0x10000:
            w[n] = 0xE0 | (cp >> 12)
            w[n + 1] = 0x80 | ((cp >> 6) & 63)
            w[n + 2] = 0x80 | (cp & 63)
            n += 3
        else:
            w[n] = 0xF0 | ((cp >> 18) & 7)
            w[n + 1] = 0x80 | ((cp >> 12) & 63)
            w[n + 2] = 0x80 | ((cp >> 6) & 63)
            w[n + 3] = 0x80 | (cp & 63)
            n += 4
        c[C_WN] = n
    if iso:
        flush(T, c)


def _emit_str(T, c, p, n, iso):
    # STR (docs/FORMAT.md §3): the n UTF-8 bytes NORM_POOL[p:p+n], each code point emitted
    pool = T[T_POOL]
    e = p + n
    while p < e:
        b = pool[p]
        p += 1
        k = 0 if b < 0x80 else 3 if b >= 0xF0 else 2 if b >= 0xE0 else 1 if b >= 0xC0 else 4
        if k > 3 or p + k > e:
            raise ValueError("corrupt m2v model: bad UTF-8 in NORM_POOL")
        u = b & (0x3F >> k) if k else b
        while k:
            x = pool[p]
            p += 1
            if x & 0xC0 != 0x80:
                raise ValueError("corrupt m2v model: bad UTF-8 in NORM_POOL")
            u = (u << 6) | (x & 63)
            k -= 1
        _emit(T, c, u, iso)


def scan(T, c, text, end, force=0):
    # Tokenise text from byte c[I]: ASCII through the ASCII table, other code points
    # through NORM_RUNS (every kind: DROP, SPACE, DELTA, ALT, STR, HANGUL). Stops at end,
    # before a byte that may start an added token (unless it is the first and force is
    # set: the caller found none there), before a code point of an unknown kind (a damaged
    # model: tok.py raises), at a cut, or when OUT is nearly full.
    asc = T[T_ASCII]
    first = T[T_FIRST]
    runs = T[T_RUNS]
    i = c[C_I]
    chars = c[C_CHARS]
    limit = c[C_LIMIT]
    room = c[C_ROOM]
    while i < end:
        if chars >= limit or c[C_DONE] or c[C_NOUT] > room:
            break
        b = text[i]
        if first[b] and not force:
            break
        force = 0
        if b < 0x80:
            i += 1
            chars += 1
            v = asc[b]
            if v == 0:
                continue
            if v == 1:
                flush(T, c)
                continue
            cp = b if v == 2 else v & 0x7F  # 2: a control kept as a word character (clean_text off)
            iso = v & 0x80
        else:
            if b < 0xE0:
                cp = ((b & 0x1F) << 6) | (text[i + 1] & 63)
                nb = 2
            elif b < 0xF0:
                cp = ((b & 0x0F) << 12) | ((text[i + 1] & 63) << 6) | (text[i + 2] & 63)
                nb = 3
            else:
                cp = ((b & 7) << 18) | ((text[i + 1] & 63) << 12) | ((text[i + 2] & 63) << 6) | (text[i + 3] & 63)
                nb = 4
            o = find_run(T, c, cp) * 6
            kb = runs[o + 3]
            kind = kb & 7
            if kind > 5:
                break  # a corrupt kind: tok.py raises
            i += nb
            chars += 1
            if kind == 0:
                continue
            if kind == 1:
                flush(T, c)
                continue
            arg = runs[o + 4] | (runs[o + 5] << 8)
            iso = kb & 8
            if kind == 4:  # STR: kb >> 4 bytes from the pool (arg unsigned)
                n = kb >> 4
                _emit_str(T, c, arg + (cp - c[C_RLO]) * n, n, iso)
                continue
            if kind == 5:  # HANGUL: a syllable into its conjoining jamo L, V and, unless 0, T
                s = cp - 0xAC00
                if not 0 <= s < 11172:
                    raise ValueError("corrupt m2v model: bad Hangul run")
                _emit(T, c, 0x1100 + s // 588, iso)
                _emit(T, c, 0x1161 + (s % 588) // 28, iso)
                if s % 28:
                    _emit(T, c, 0x11A7 + s % 28, iso)
                continue
            if arg > 0x7FFF:
                arg -= 0x10000
            if kind == 2 or (cp - c[C_RLO]) & 1 == 0:
                cp += arg
        _emit(T, c, cp, iso)
    c[C_I] = i
    c[C_CHARS] = chars


def bits(rec, pos, width, nrec):
    # The width-bit field at bit pos of the records rec (nrec bytes; docs/FORMAT.md
    # §5): at most three bytes read. _pool_py.py decodes through it too.
    b = pos >> 3
    v = rec[b]
    if b + 1 < nrec:
        v |= rec[b + 1] << 8
        if b + 2 < nrec:
            v |= rec[b + 2] << 16
    return (v >> (pos & 7)) & ((1 << width) - 1)


def field(T, c, pos, width):
    # bits() of RECORDS, as the C core's field(T, c, pos, width)
    return bits(T[T_RECORDS], pos, width, c[C_NREC])
