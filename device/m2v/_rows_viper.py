# Twin by design: speed. The viper scan of int8 rows (index entries, classifier
# classes) of _rows.py, bit-identical to its pure-Python _scan_py (tests run
# both). Imported only on a port with a native architecture: a module with a
# viper function does not compile on one without.
import micropython


@micropython.viper
def scan(buf, off: int, n: int, d: int, q, bias: int, thr: int, full: int, base: int, cs, ci) -> int:
    p = ptr8(buf)
    qq = ptr16(q)
    s32 = ptr32(cs)
    i32 = ptr32(ci)
    nc = 0
    rs = d + 2
    e = 0
    while e < n:
        o = off + e * rs
        acc = 0
        j = 0
        while j < d:
            acc += ((int(qq[j]) ^ 0x8000) - 0x8000) * ((int(p[o + j]) ^ 0x80) - 0x80)
            j += 1
        m = int(p[o + d]) | (int(p[o + d + 1]) << 8)
        s = bias + (acc >> 15) * m + (((acc & 0x7FFF) * m) >> 15)
        if full == 0 or s > thr:
            s32[nc] = s
            i32[nc] = base + e
            nc += 1
        e += 1
    return nc
