# Twin by design: speed. The viper core for tables that are buffers (ptr8 reads).
# The viper twins of _tok_py.py's tokenizer hot path (scan, flush,
# wordpiece), for models whose tables are buffers (buffer/ROMFS mode).
# A module of its own so that file-mode models, which cannot use it, do not
# load its native code into the heap; tok.py imports it on first use.
# The constants are copies of _tok_py.py's (viper needs them at compile
# time; tests/test_device_layout.py ties them).
import micropython
from micropython import const

IMPL = "viper"

# T: the tables and the scratch buffers
_T_ASCII = const(0)
_T_SYMMAP = const(1)
_T_NODES = const(2)
_T_HASKIDS = const(3)
_T_HRANK = const(4)
_T_GSTART = const(5)
_T_TRANK = const(6)
_T_RECORDS = const(7)
_T_FIRST = const(8)  # first[b]: an added token starts with byte b
_T_WORD = const(9)  # UTF-8 bytes of the current word
_T_OUT = const(10)  # record numbers of the tokens not yet delivered
_T_RUNS = const(11)

# c: parameters (set once) ...
_C_HS = const(0)
_C_GS = const(1)
_C_TS = const(2)
_C_SB = const(3)
_C_ESC = const(4)
_C_MWC = const(6)  # max_word_chars
_C_MAXLEN = const(7)
_C_LIMIT = const(8)  # pretrunc_chars
_C_ROOM = const(9)  # scan returns when more than this many tokens wait in OUT
_C_NRUNS = const(11)  # entries in NORM_RUNS
_C_RLO = const(12)  # cache of the last NORM_RUNS lookup: [RLO, RHI) is run RI
_C_RHI = const(13)
_C_RI = const(14)
# ... and state (reset per text)
_C_WN = const(16)  # bytes in WORD
_C_WC = const(17)  # code points in the current word
_C_COUNT = const(18)  # tokens so far, [UNK] included (max_length cut)
_C_DONE = const(19)
_C_CHARS = const(20)  # code points read (pretrunc cut)
_C_NOUT = const(21)  # entries in OUT
_C_I = const(22)  # byte position in the text


@micropython.viper
def wordpiece(T, c, n: int) -> int:
    cc = ptr32(c)
    w = ptr8(T[_T_WORD])
    symmap = ptr8(T[_T_SYMMAP])
    nodes = ptr8(T[_T_NODES])
    hk = ptr8(T[_T_HASKIDS])
    hr = ptr8(T[_T_HRANK])
    gst = ptr8(T[_T_GSTART])
    tr = ptr8(T[_T_TRANK])
    out = ptr32(T[_T_OUT])
    hs = cc[_C_HS]
    gs = cc[_C_GS]
    gmask = (1 << gs) - 1
    ts = cc[_C_TS]
    sb = cc[_C_SB]
    esc = cc[_C_ESC]
    o = cc[_C_NOUT]
    ngs = int(len(T[_T_GSTART]))
    nn = int(len(T[_T_NODES]))  # bound for the scans: a damaged model raises IndexError, as in _py
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
            s2 = -1  # second symbol of an escaped byte
            if s == 255:
                s = esc + (b >> 6)
                s2 = b & 63
            while True:
                # node = child(node, s), inlined (see _child_py)
                if (int(hk[node >> 3]) >> (node & 7)) & 1 == 0:
                    node = -1
                    break
                # rank of HASKIDS before node, from the nearer sample (_child_py):
                # the one after node less the bits in [node, sample), or the
                # one before it plus the bits in [sample, node)
                q = node >> hs
                e = node >> 3
                back = 0
                if node & (1 << (hs - 1)) and (q + 1) << hs < nn:
                    back = 1
                    q += 1
                if sb == 2:
                    g = int(hr[q << 1]) | (int(hr[(q << 1) + 1]) << 8)
                else:
                    g = (int(hr[q << 2]) | (int(hr[(q << 2) + 1]) << 8)
                        | (int(hr[(q << 2) + 2]) << 16) | (int(hr[(q << 2) + 3]) << 24))
                if back:
                    j = (q << (hs - 3)) - 1
                    while j >= e:
                        x = int(hk[j])
                        if j == e:
                            x >>= node & 7
                        # popcount of one byte, no table
                        x = x - ((x >> 1) & 0x55)
                        x = (x & 0x33) + ((x >> 2) & 0x33)
                        g -= (x + (x >> 4)) & 0x0F
                        j -= 1
                else:
                    j = q << (hs - 3)
                    while j <= e:
                        x = int(hk[j])
                        if j == e:
                            x &= (1 << (node & 7)) - 1
                        x = x - ((x >> 1) & 0x55)
                        x = (x & 0x33) + ((x >> 2) & 0x33)
                        g += (x + (x >> 4)) & 0x0F
                        j += 1
                # start of group g, from the nearer sample (_child_py): back
                # from the next sample over 2**gs - k groups, or on from this one
                q = g >> gs
                k = g & gmask
                back = 0
                if k > (gmask + 1) >> 1 and (q + 2) * sb <= ngs:
                    back = 1
                    q += 1
                    k = gmask + 1 - k
                elif (q + 1) * sb > ngs:
                    raise IndexError
                if sb == 2:
                    j = int(gst[q << 1]) | (int(gst[(q << 1) + 1]) << 8)
                else:
                    j = (int(gst[q << 2]) | (int(gst[(q << 2) + 1]) << 8)
                        | (int(gst[(q << 2) + 2]) << 16) | (int(gst[(q << 2) + 3]) << 24))
                if back:
                    j -= 1
                    while True:
                        if j < 0 or j >= nn:
                            raise IndexError
                        if int(nodes[j]) & 0x80:
                            if k == 0:
                                break
                            k -= 1
                        j -= 1
                    j += 1
                else:
                    while k:
                        if j >= nn:
                            raise IndexError
                        if int(nodes[j]) & 0x80:
                            k -= 1
                        j += 1
                node = -1
                while True:
                    if j >= nn:
                        raise IndexError
                    nb = int(nodes[j])
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
            if int(nodes[node]) & 0x40:
                best = node
                best_end = i
        if best < 0:
            return -1
        # record number = rank of terminal nodes before best
        # (from the nearer of the two samples around it: _rank_t_py)
        q = best >> ts
        back = 0
        if best & ((1 << ts) - 1) > (1 << ts) >> 1 and (q + 1) << ts < nn:
            back = 1
            q += 1
        if sb == 2:
            r = int(tr[q << 1]) | (int(tr[(q << 1) + 1]) << 8)
        else:
            r = (int(tr[q << 2]) | (int(tr[(q << 2) + 1]) << 8)
                | (int(tr[(q << 2) + 2]) << 16) | (int(tr[(q << 2) + 3]) << 24))
        if back:
            j = (q << ts) - 1
            while j >= best:
                r -= (int(nodes[j]) >> 6) & 1
                j -= 1
        else:
            j = q << ts
            while j < best:
                r += (int(nodes[j]) >> 6) & 1
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
    # scan_py in viper
    cc = ptr32(c)
    t = ptr8(text)
    asc = ptr8(T[_T_ASCII])
    first = ptr8(T[_T_FIRST])
    runs = ptr8(T[_T_RUNS])
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
                find_run(T, c, cp)  # a miss of the one-run cache: binary search
            o = cc[_C_RI] * 6
            kb = int(runs[o + 3])
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
            arg = int(runs[o + 4]) | (int(runs[o + 5]) << 8)
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
    # find_run_py in viper: the run holding cp, cached in c
    cc = ptr32(c)
    if cc[_C_RLO] <= cp and cp < cc[_C_RHI]:
        return cc[_C_RI]
    runs = ptr8(T[_T_RUNS])
    nruns = cc[_C_NRUNS]
    if nruns * 6 > int(len(T[_T_RUNS])):
        raise IndexError
    lo = 0
    hi = nruns - 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        o = mid * 6
        if int(runs[o]) | (int(runs[o + 1]) << 8) | (int(runs[o + 2]) << 16) <= cp:
            lo = mid
        else:
            hi = mid - 1
    o = lo * 6
    cc[_C_RLO] = int(runs[o]) | (int(runs[o + 1]) << 8) | (int(runs[o + 2]) << 16)
    o += 6
    if lo + 1 < nruns:
        cc[_C_RHI] = int(runs[o]) | (int(runs[o + 1]) << 8) | (int(runs[o + 2]) << 16)
    else:
        cc[_C_RHI] = 0x110000
    cc[_C_RI] = lo
    return lo


@micropython.viper
def field(T, c, pos: int, width: int) -> int:
    # field_py over RECORDS
    r = ptr8(T[_T_RECORDS])
    nrec = int(len(T[_T_RECORDS]))
    b = pos >> 3
    if b < 0 or b >= nrec:
        raise IndexError
    v = int(r[b])
    if b + 1 < nrec:
        v |= int(r[b + 1]) << 8
        if b + 2 < nrec:
            v |= int(r[b + 2]) << 16
    return (v >> (pos & 7)) & ((1 << width) - 1)

