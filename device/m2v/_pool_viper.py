# Twin by design: speed.
# Pooling and normalisation in viper (docs/FORMAT.md §6): the fast twin of
# _pool_py.py, bit-identical (tests run both). pool.py selects it.
import micropython

IMPL = "viper"


@micropython.viper
def zero(acc, n: int):
    # acc[0:n] = 0: the sums of a new text
    a = ptr32(acc)
    if n > int(len(acc)):
        raise IndexError
    for d in range(n):
        a[d] = 0


@micropython.viper
def acc_row(acc, row, m: int, n: int):
    a = ptr32(acc)
    r = ptr8(row)
    for d in range(n):
        v = int(r[d])
        if v > 127:
            v -= 256
        a[d] += m * v


@micropython.viper
def acc_recs(acc, cen, rec, out, n: int, wcodes, rb: int, ib: int, mb: int, wb: int, dims: int):
    a = ptr32(acc)
    c = ptr8(cen)
    r = ptr8(rec)
    o = ptr32(out)
    wc = ptr16(wcodes)
    nrec = int(len(rec))
    mmask = (1 << mb) - 1
    wmask = (1 << wb) - 1
    d4 = dims & ~3
    ncen = int(len(cen))
    for k in range(n):
        pos = o[k] * rb + ib
        if (pos + mb + wb - 1) >> 3 >= nrec:
            raise IndexError  # a damaged model (as rec[b] in _pool_py)
        # the two fields, each read from at most three bytes (_field)
        b = pos >> 3
        v = int(r[b])
        if b + 1 < nrec:
            v |= int(r[b + 1]) << 8
            if b + 2 < nrec:
                v |= int(r[b + 2]) << 16
        row = (v >> (pos & 7)) & mmask
        pos += mb
        b = pos >> 3
        v = int(r[b])
        if b + 1 < nrec:
            v |= int(r[b + 1]) << 8
            if b + 2 < nrec:
                v |= int(r[b + 2]) << 16
        m = int(wc[(v >> (pos & 7)) & wmask])
        if m > 32767:
            m -= 65536
        if (row + 1) * dims > ncen:
            raise ValueError("corrupt m2v model: centroid row out of range")
        rp = ptr8(uint(c) + row * dims)
        # 4 components a step; (x ^ 128) - 128 sign-extends a byte
        d = 0
        while d < d4:
            a[d] += m * ((int(rp[d]) ^ 128) - 128)
            a[d + 1] += m * ((int(rp[d + 1]) ^ 128) - 128)
            a[d + 2] += m * ((int(rp[d + 2]) ^ 128) - 128)
            a[d + 3] += m * ((int(rp[d + 3]) ^ 128) - 128)
            d += 4
        while d < dims:
            a[d] += m * ((int(rp[d]) ^ 128) - 128)
            d += 1


@micropython.viper
def normalize_into(acc, out, n: int, norm_bits: int, q: int):
    # _pool_py.normalize_into in viper: every value stays below 2**30 (§6)
    a = ptr32(acc)
    o = ptr16(out)
    # a ptr32 load is not sign-extended on 64-bit ports: bit 31 gives the
    # sign, and (0 - v) & 0x3FFFFFFF the magnitude, as |acc| < 2**30
    m = 0
    for d in range(n):
        v = int(a[d])
        if (v >> 31) & 1:
            v = (0 - v) & 0x3FFFFFFF
        if v > m:
            m = v
    if m == 0:
        for d in range(n):
            o[d] = 0
        return
    k = norm_bits
    t = m
    while t:
        k -= 1
        t >>= 1
    ss = 0
    for d in range(n):
        x = int(a[d])
        neg = (x >> 31) & 1
        if neg:
            x = (0 - x) & 0x3FFFFFFF
        if k >= 0:
            x = x << k
        else:
            x = x >> (0 - k)
        if neg:
            a[d] = 0 - x
        else:
            a[d] = x
        ss += x * x
    # isqrt(ss), as isqrt()
    x = ss
    r = 0
    bit = 1 << 28
    while bit > x:
        bit >>= 2
    while bit:
        if x >= r + bit:
            x -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    if ss - r * r > r:
        r += 1
    half = r >> 1
    for d in range(n):
        v = int(a[d])
        if (v >> 31) & 1:
            o[d] = 0 - (((((0 - v) & 0x3FFFFFFF) << q) + half) // r)
        else:
            o[d] = ((v << q) + half) // r
