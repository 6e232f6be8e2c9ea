# Integer pooling and normalisation (docs/FORMAT.md §6).
# acc[d] = sum over tokens of WCODES[code] * centroid[row][d]. The converter
# bounds |WCODES| by (2**30 - 1) / (127 * max_length), so every partial sum
# is a 31-bit small int: no big-int allocation in Python, no int32 wrap in viper.
import micropython


def acc_row_py(acc, row, m, n):
    for d in range(n):
        v = row[d]
        if v > 127:
            v -= 256
        acc[d] += m * v


try:

    @micropython.viper
    def acc_row_viper(acc, row, m: int, n: int):
        a = ptr32(acc)
        r = ptr8(row)
        for d in range(n):
            v = int(r[d])
            if v > 127:
                v -= 256
            a[d] += m * v

    acc_row = acc_row_viper
except Exception:  # a port or build without the viper emitter
    acc_row_viper = None
    acc_row = acc_row_py


def use(impl):
    # Select the pooling loop: "viper" or "py" (bit-identical; tests run both).
    global acc_row
    if impl == "viper":
        if acc_row_viper is None:
            raise ValueError("viper is not available on this port")
        acc_row = acc_row_viper
    elif impl == "py":
        acc_row = acc_row_py
    else:
        raise ValueError("impl must be 'viper' or 'py'")


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
