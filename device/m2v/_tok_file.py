# Twin by design: speed. The viper core for file mode (reads through the page
# cache); its scan and flush mirror _tok_buf.py's, which read NORM_RUNS and call
# their wordpiece directly: one shared scan would call a per-core reader.
# The viper twins of _tok_py.py's tokenizer hot path for file-mode models: the
# tables are read at absolute file offsets through the model's page cache
# (bytearray CACHE of SM + 1 pages of 64 bytes, SM + 1 a power of two set by
# load's ram budget, array("i") TAGS of their page numbers, and SLOTS, a
# memoryview of each page, so that a miss reads straight into its slot; shared
# with model.FileSection: model.PageCache). Page q lives in slot q & SM (the mask: c[_C_SM]).
# Every read is bounds-checked against its section, as in _tok_py.py
# (IndexError). Bit-identical to _tok_py.py and _tok_buf.py (tests run all three).
import micropython
from micropython import const

IMPL = "viper"

# the page cache: 2**_PS-byte pages (a copy of model.PS: tests/test_device_layout.py)
_PS = const(6)
_PM = const((1 << _PS) - 1)

# copies of _tok_py.py's layout of T and c (viper needs them at compile time)

_T_ASCII = const(0)
_T_SYMMAP = const(1)
_T_FIRST = const(8)
_T_WORD = const(9)
_T_OUT = const(10)
_T_CACHE = const(12)
_T_TAGS = const(13)
_T_FILE = const(14)
_T_SLOTS = const(15)

_C_HS = const(0)
_C_GS = const(1)
_C_TS = const(2)
_C_SB = const(3)
_C_ESC = const(4)
_C_RB = const(5)
_C_MWC = const(6)
_C_MAXLEN = const(7)
_C_LIMIT = const(8)
_C_ROOM = const(9)
_C_NREC = const(10)
_C_NRUNS = const(11)
_C_RLO = const(12)
_C_RHI = const(13)
_C_RI = const(14)
_C_WN = const(16)
_C_WC = const(17)
_C_COUNT = const(18)
_C_DONE = const(19)
_C_CHARS = const(20)
_C_NOUT = const(21)
_C_I = const(22)
# file offsets of the sections, and sizes (file mode only)
_C_OHK = const(24)
_C_OHR = const(25)
_C_OGS = const(26)
_C_OND = const(27)
_C_OTR = const(28)
_C_ORC = const(29)
_C_ORU = const(30)
_C_NND = const(31)
_C_NGS = const(32)
_C_SM = const(33)


@micropython.viper
def rd(T, c, pos: int, n: int) -> int:
    # n little-endian bytes (n <= 4) at file offset pos, through the cache
    cb = ptr8(T[_T_CACHE])
    tg = ptr32(T[_T_TAGS])
    sm = ptr32(c)[_C_SM]
    v = 0
    k = 0
    while k < n:
        q = pos >> _PS
        if tg[q & sm] != q:
            f = T[_T_FILE]
            f.seek(q << _PS)
            f.readinto(T[_T_SLOTS][q & sm])
            tg[q & sm] = q
        v |= int(cb[((q & sm) << _PS) | (pos & _PM)]) << (k << 3)
        pos += 1
        k += 1
    return v


@micropython.viper
def wordpiece(T, c, n: int) -> int:
    cc = ptr32(c)
    w = ptr8(T[_T_WORD])
    symmap = ptr8(T[_T_SYMMAP])
    out = ptr32(T[_T_OUT])
    cb = ptr8(T[_T_CACHE])
    tg = ptr32(T[_T_TAGS])
    f = T[_T_FILE]  # f.seek(), not seek = f.seek: no bound method allocated
    slots = T[_T_SLOTS]
    sm = cc[_C_SM]
    hs = cc[_C_HS]
    gs = cc[_C_GS]
    gmask = (1 << gs) - 1
    ts = cc[_C_TS]
    sb = cc[_C_SB]
    esc = cc[_C_ESC]
    o = cc[_C_NOUT]
    ohk = cc[_C_OHK]
    ohr = cc[_C_OHR]
    ogs = cc[_C_OGS]
    ond = cc[_C_OND]
    otr = cc[_C_OTR]
    ngs = cc[_C_NGS]
    nn = cc[_C_NND]
    np_ = 0
    pos = 0
    while pos < n:
        node = 1
        if pos == 0:
            node = 0
        best = -1
        best_end = 0
        i = pos
        while i < n:
            b = int(w[i])
            s = int(symmap[b])
            s2 = -1
            if s == 255:
                s = esc + (b >> 6)
                s2 = b & 63
            while True:
                a = ohk + (node >> 3)
                q = a >> _PS
                if tg[q & sm] != q:
                    f.seek(q << _PS)
                    f.readinto(slots[q & sm])
                    tg[q & sm] = q
                if (int(cb[((q & sm) << _PS) | (a & _PM)]) >> (node & 7)) & 1 == 0:
                    node = -1
                    break
                # rank of HASKIDS before node, from the nearer sample
                # (_child_py): the sample before node plus the bits in
                # [sample, node), or the one after it minus those in
                # [node, sample); both counted forwards over bytes j..e - 1
                q = node >> hs
                d = 0
                if node & (1 << (hs - 1)) and (q + 1) << hs < nn:
                    d = 1
                    q += 1
                g = int(rd(T, c, ohr + q * sb, sb))
                j = q << (hs - 3)
                e = (node >> 3) + 1
                if d:
                    e = j
                    j = node >> 3
                while j < e:
                    a = ohk + j
                    q = a >> _PS
                    if tg[q & sm] != q:
                        f.seek(q << _PS)
                        f.readinto(slots[q & sm])
                        tg[q & sm] = q
                    x = int(cb[((q & sm) << _PS) | (a & _PM)])
                    if d:
                        if j == node >> 3:
                            x >>= node & 7
                    elif j == node >> 3:
                        x &= (1 << (node & 7)) - 1
                    x = x - ((x >> 1) & 0x55)
                    x = (x & 0x33) + ((x >> 2) & 0x33)
                    x = (x + (x >> 4)) & 0x0F
                    if d:
                        g -= x
                    else:
                        g += x
                    j += 1
                # start of group g, from the nearer sample (_child_py): back
                # from the next sample over 2**gs - k groups, or on below
                q = g >> gs
                k = g & gmask
                if k > (gmask + 1) >> 1 and (q + 2) * sb <= ngs:
                    k = gmask + 1 - k
                    j = int(rd(T, c, ogs + (q + 1) * sb, sb)) - 1
                    while True:
                        if j < 0 or j >= nn:
                            raise IndexError
                        a = ond + j
                        q = a >> _PS
                        if tg[q & sm] != q:
                            f.seek(q << _PS)
                            f.readinto(slots[q & sm])
                            tg[q & sm] = q
                        if int(cb[((q & sm) << _PS) | (a & _PM)]) & 0x80:
                            if k == 0:
                                break
                            k -= 1
                        j -= 1
                    j += 1
                else:
                    if (q + 1) * sb > ngs:
                        raise IndexError
                    j = int(rd(T, c, ogs + q * sb, sb))
                node = -1
                while True:
                    if j >= nn:
                        raise IndexError
                    a = ond + j
                    q = a >> _PS
                    if tg[q & sm] != q:
                        f.seek(q << _PS)
                        f.readinto(slots[q & sm])
                        tg[q & sm] = q
                    nb = int(cb[((q & sm) << _PS) | (a & _PM)])
                    if k:
                        if nb & 0x80:
                            k -= 1
                        j += 1
                        continue
                    t = nb & 63
                    if t == s:
                        node = j
                        break
                    if t > s or nb & 0x80:
                        break
                    j += 1
                if node < 0 or s2 < 0:
                    break
                s = s2
                s2 = -1
            if node < 0:
                break
            i += 1
            if int(rd(T, c, ond + node, 1)) & 0x40:
                best = node
                best_end = i
        if best < 0:
            return -1
        # (from the nearer sample, as _rank_t_py; counted forwards either way)
        q = best >> ts
        d = 0
        if best & ((1 << ts) - 1) > (1 << ts) >> 1 and (q + 1) << ts < nn:
            d = 1
            q += 1
        r = int(rd(T, c, otr + q * sb, sb))
        j = q << ts
        e = best
        if d:
            e = j
            j = best
        while j < e:
            a = ond + j
            q = a >> _PS
            if tg[q & sm] != q:
                f.seek(q << _PS)
                f.readinto(slots[q & sm])
                tg[q & sm] = q
            if d:
                r -= (int(cb[((q & sm) << _PS) | (a & _PM)]) >> 6) & 1
            else:
                r += (int(cb[((q & sm) << _PS) | (a & _PM)]) >> 6) & 1
            j += 1
        out[o + np_] = r
        np_ += 1
        pos = best_end
    return np_


@micropython.viper
def flush(T, c):
    cc = ptr32(c)
    wc = cc[_C_WC]
    if wc == 0 or cc[_C_DONE]:
        cc[_C_WN] = 0
        cc[_C_WC] = 0
        return
    n = -1
    if wc <= cc[_C_MWC]:
        n = int(wordpiece(T, c, cc[_C_WN]))
    cc[_C_WN] = 0
    cc[_C_WC] = 0
    count = cc[_C_COUNT]
    if n < 0:
        count += 1
    else:
        left = cc[_C_MAXLEN] - count
        if n > left:
            n = left
        count += n
        cc[_C_NOUT] += n
    cc[_C_COUNT] = count
    if count >= cc[_C_MAXLEN]:
        cc[_C_DONE] = 1


@micropython.viper
def scan(T, c, text, end: int):
    cc = ptr32(c)
    t = ptr8(text)
    asc = ptr8(T[_T_ASCII])
    first = ptr8(T[_T_FIRST])
    w = ptr8(T[_T_WORD])
    i = cc[_C_I]
    chars = cc[_C_CHARS]
    limit = cc[_C_LIMIT]
    mwc = cc[_C_MWC]
    room = cc[_C_ROOM]
    while i < end:
        if chars >= limit or cc[_C_DONE] or cc[_C_NOUT] > room:
            break
        b = int(t[i])
        if first[b]:
            break
        if b < 0x80:
            i += 1
            chars += 1
            v = int(asc[b])
            if v == 0:
                continue
            if v == 1:
                flush(T, c)
                continue
            if v == 2:
                cp = b  # a control kept as a word character (clean_text off)
            else:
                cp = v & 0x7F
            iso = v & 0x80
        else:
            if b < 0xE0:
                cp = ((b & 0x1F) << 6) | (int(t[i + 1]) & 63)
                nb = 2
            elif b < 0xF0:
                cp = ((b & 0x0F) << 12) | ((int(t[i + 1]) & 63) << 6) | (int(t[i + 2]) & 63)
                nb = 3
            else:
                cp = ((b & 7) << 18) | ((int(t[i + 1]) & 63) << 12) | ((int(t[i + 2]) & 63) << 6) | (int(t[i + 3]) & 63)
                nb = 4
            if cp < cc[_C_RLO] or cp >= cc[_C_RHI]:
                find_run(T, c, cp)
            o = cc[_C_ORU] + cc[_C_RI] * 6
            kb = int(rd(T, c, o + 3, 1))
            kind = kb & 7
            if kind > 3:
                break
            i += nb
            chars += 1
            if kind == 0:
                continue
            if kind == 1:
                flush(T, c)
                continue
            arg = int(rd(T, c, o + 4, 2))
            if arg > 0x7FFF:
                arg -= 0x10000
            if kind == 2 or (cp - cc[_C_RLO]) & 1 == 0:
                cp += arg
            iso = kb & 8
        if iso:
            flush(T, c)
        wc = cc[_C_WC] + 1
        cc[_C_WC] = wc
        if wc <= mwc:
            n = cc[_C_WN]
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
                w[n] = 0xF0 | (cp >> 18)
                w[n + 1] = 0x80 | ((cp >> 12) & 63)
                w[n + 2] = 0x80 | ((cp >> 6) & 63)
                w[n + 3] = 0x80 | (cp & 63)
                n += 4
            cc[_C_WN] = n
        if iso:
            flush(T, c)
    cc[_C_I] = i
    cc[_C_CHARS] = chars


@micropython.viper
def find_run(T, c, cp: int) -> int:
    # find_run_py: the NORM_RUNS entry holding cp (binary search, one-run cache)
    cc = ptr32(c)
    if cc[_C_RLO] <= cp and cp < cc[_C_RHI]:
        return cc[_C_RI]
    ru = cc[_C_ORU]
    nruns = cc[_C_NRUNS]
    lo = 0
    hi = nruns - 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if int(rd(T, c, ru + mid * 6, 3)) <= cp:
            lo = mid
        else:
            hi = mid - 1
    cc[_C_RLO] = int(rd(T, c, ru + lo * 6, 3))
    if lo + 1 < nruns:
        cc[_C_RHI] = int(rd(T, c, ru + lo * 6 + 6, 3))
    else:
        cc[_C_RHI] = 0x110000
    cc[_C_RI] = lo
    return lo


@micropython.viper
def field(T, c, pos: int, width: int) -> int:
    # field_py over RECORDS in the file
    cc = ptr32(c)
    nrec = cc[_C_NREC]
    b = pos >> 3
    if b < 0 or b >= nrec:
        raise IndexError
    v = int(rd(T, c, cc[_C_ORC] + b, 1))
    if b + 1 < nrec:
        v |= int(rd(T, c, cc[_C_ORC] + b + 1, 1)) << 8
        if b + 2 < nrec:
            v |= int(rd(T, c, cc[_C_ORC] + b + 2, 1)) << 16
    return (v >> (pos & 7)) & ((1 << width) - 1)


@micropython.viper
def acc_recs_f(T, c, acc, f, row, cen: int, n: int, wcodes, ib: int, mb: int, wb: int, dims: int, ncen: int):
    # pool.acc_recs for file mode: records through the cache, each centroid
    # row read into the buffer row (seek + readinto), then acc += m * row
    cc = ptr32(c)
    a = ptr32(acc)
    o = ptr32(T[_T_OUT])
    wc = ptr16(wcodes)
    rp = ptr8(row)
    rb = cc[_C_RB]
    for k in range(n):
        pos = o[k] * rb + ib
        r = int(field(T, c, pos, mb))
        m = int(wc[int(field(T, c, pos + mb, wb))])
        if m > 32767:
            m -= 65536
        if r >= ncen:
            raise ValueError("corrupt m2v model: centroid row out of range")
        f.seek(cen + r * dims)
        f.readinto(row)
        d = 0
        while d < dims:
            a[d] += m * ((int(rp[d]) ^ 128) - 128)
            d += 1
