# Device test: the C core's pooling (m2v/_native.mpy) against the pure-Python twins
# (m2v/_pool_py.py), on seeded pseudo-random batches of records, and its int8 row scan
# (scan_rows) against m2v/_rows.py's _scan_py on seeded rows and queries; and the errors each
# raises on out-of-range records, rows and scans. Runs unchanged on the unix port (the x64
# build) and on the emulated boards.
#   native_pool.py CASES SEED
# Prints "native_pool: N cases, M mismatches, errors a/b" and "native_rows: N cases, M mismatches, errors a/b".
import sys
from array import array

from m2v import _native, _pool_py, _rows

cases, seed = int(sys.argv[1]), int(sys.argv[2])
x = seed


def rnd(n):
    # a 31-bit LCG (no random module on every port)
    global x
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return (x >> 8) % n


def pack(fields):
    # little-endian bit packing of (value, width) fields, as the converter lays out records
    acc, nbits, out = 0, 0, bytearray()
    for v, w in fields:
        acc |= v << nbits
        nbits += w
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc)
    return bytes(out)


mb, wb, ib, rb = 11, 7, 15, 33  # the default model's record layout: id 15, row 11, weight code 7
bad = 0
for case in range(cases):
    dims = (256, 7, 64, 1)[case % 4]
    rows = 1 + rnd(40)
    cen = bytes(rnd(256) for _ in range(rows * dims))
    nrec = 1 + rnd(60)
    fields = []
    for _ in range(nrec):
        fields += [(rnd(1 << ib), ib), (rnd(rows), mb), (rnd(1 << wb), wb)]
    rec = pack(fields)
    wcodes = array("h", (rnd(2 * 16513 + 1) - 16513 for _ in range(1 << wb)))
    n = rnd(65)
    out = array("i", (rnd(nrec) for _ in range(n)))
    accs = [array("i", bytes(4 * dims)) for _ in range(2)]
    _native.acc_recs(accs[0], cen, rec, out, n, wcodes, rb, ib, mb, wb, dims)
    _pool_py.acc_recs(accs[1], cen, rec, out, n, wcodes, rb, ib, mb, wb, dims)
    vecs = [array("h", bytes(2 * dims)) for _ in range(2)]
    nb = 1  # the format's N: the largest with dims * (2**N - 1)**2 <= 2**30 - 1 (docs/FORMAT.md §6)
    while dims * ((1 << (nb + 1)) - 1) ** 2 <= (1 << 30) - 1:
        nb += 1
    _native.normalize_into(accs[0], vecs[0], dims, nb, 14)
    _pool_py.normalize_into(accs[1], vecs[1], dims, nb, 14)
    rows = [array("i", bytes(4 * dims)) for _ in range(2)]
    m = wcodes[rnd(1 << wb)]
    for f, a in zip((_native.acc_row, _pool_py.acc_row), rows):
        f(a, cen[:dims], m, dims)
    if accs[0] != accs[1] or vecs[0] != vecs[1] or rows[0] != rows[1]:
        bad += 1


def raised(f, *a):
    try:
        f(*a)
    except Exception as e:
        return type(e).__name__
    return "none"


# a row past the centroids, and a record past the records: each twin raises the same error
cen = bytes(4 * 8)
rec = pack([(0, ib), (4, mb), (0, wb)])
wcodes = array("h", bytes(2 << wb))
acc = array("i", bytes(32))
err_ok = err_n = 0
for out in (array("i", [0]), array("i", [1])):
    got = [raised(f, acc, cen, rec, out, 1, wcodes, rb, ib, mb, wb, 8) for f in (_native.acc_recs, _pool_py.acc_recs)]
    err_n += 1
    err_ok += got[0] == got[1] != "none"
print("native_pool: %d cases, %d mismatches, errors %d/%d" % (cases, bad, err_ok, err_n))

# the row scan: rows of d int8 and a u16 multiplier from byte off, every score or those above thr
bad = 0
for case in range(cases):
    d = (256, 7, 64, 1)[case % 4]
    n, off = 1 + rnd(12), rnd(6)
    buf = bytes(rnd(256) for _ in range(off + n * (d + 2) + rnd(3)))
    q = array("h", (rnd(6001) - 3000 for _ in range(d)))  # 127 * sum |q| < 2**30: the files' bound
    bias, thr, full, base = rnd(1 << 21) - (1 << 20), rnd(1 << 16) - (1 << 15), rnd(2), rnd(1000)
    got = []
    for f in (_native.scan_rows, _rows._scan_py):
        cs, ci = array("i", bytes(4 * n)), array("i", bytes(4 * n))
        nc = f(buf, off, n, d, q, bias, thr, full, base, cs, ci)
        got.append((nc, cs[:nc], ci[:nc]))
    bad += got[0] != got[1]
# past the buffer's end: each raises the same error
err_ok = err_n = 0
for n in (5, 6):
    cs = ci = array("i", bytes(24))
    got = [raised(f, bytes(5 * 9 + 1), 0, n, 7, array("h", bytes(14)), 0, 0, 0, 0, cs, ci)
           for f in (_native.scan_rows, _rows._scan_py)]
    err_n += 1
    err_ok += got[0] == got[1] == ("none" if n == 5 else "IndexError")
print("native_rows: %d cases, %d mismatches, errors %d/%d" % (cases, bad, err_ok, err_n))
