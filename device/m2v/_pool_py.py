# Twin by design: pooling in pure Python, the readable twin of the C core's loops
# (device/native/m2v_native.c), bit-identical (tests run both), for a port or an install
# where the C core does not load and as the oracle on the board. Imported only by
# m2v.use("py") or there, so it does not sit in the heap otherwise.

from ._tok_py import bits  # the records' field decode, one copy


def zero(acc, n):
    # acc[0:n] = 0: the sums of a new text
    for d in range(n):
        acc[d] = 0


def acc_row(acc, row, m, n):
    for d in range(n):
        v = row[d]
        if v > 127:
            v -= 256
        acc[d] += m * v


def acc_recs(acc, cen, rec, out, n, wcodes, rb, ib, mb, wb, dims):
    # acc_row for the tokens whose record numbers are out[0:n], rows read in
    # place from the CENTROIDS buffer cen (docs/FORMAT.md §5 records, §6). The
    # tokens of one row are merged first, their weights summed, and each row
    # pooled once (as m2v_native.c pool_recs): the same integer sums, grouped by row.
    nrec = len(rec)
    ws = {}
    for k in range(n):
        pos = out[k] * rb + ib
        row = bits(rec, pos, mb, nrec)
        code = bits(rec, pos + mb, wb, nrec)
        if row * dims + dims > len(cen):
            raise ValueError("corrupt m2v model: centroid row out of range")
        ws[row] = ws.get(row, 0) + wcodes[code]
    for row, m in ws.items():
        if m:
            o = row * dims
            acc_row(acc, cen[o : o + dims], m, dims)


def isqrt(x):
    # Floor square root of 0 <= x < 2**30, bit by bit (no floats, no big ints).
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
    return r


def normalize_into(acc, out, n, norm_bits, q):
    # Reduce acc to a unit vector in Q(q) written into out (§6 steps 2-5).
    m = 0
    for d in range(n):
        v = acc[d]
        if v < 0:
            v = -v
        if v > m:
            m = v
    if m == 0:
        for d in range(n):
            out[d] = 0
        return
    k = norm_bits
    t = m
    while t:
        k -= 1
        t >>= 1
    # now 2**(norm_bits-1) <= m * 2**k < 2**norm_bits
    ss = 0
    for d in range(n):
        v = acc[d]
        a = -v if v < 0 else v
        a = (a << k) if k >= 0 else (a >> -k)
        acc[d] = -a if v < 0 else a
        ss += a * a
    r = isqrt(ss)
    if ss - r * r > r:
        r += 1
    half = r >> 1
    for d in range(n):
        v = acc[d]
        if v < 0:
            out[d] = -((((-v) << q) + half) // r)
        else:
            out[d] = ((v << q) + half) // r
