# What the native C core spends heap on for speed (m2v/tok.py imports this module at a
# model's load when the C core runs, then drops it: its code does not stay in the heap).

from micropython import const

# What the native core spends heap on, within what the budget (ram=, or ram=None's share of
# the free heap: _load.py's _MAX_SHARE) leaves after the loader's tables and page cache, in
# the order of instructions saved per byte measured on cortex-m0 (make bench BOARD=cortex-m0, the real texts):
# - T[ACCEL] (device/native/m2v_native.c build_accel), 16-bit entries: the starts of the
#   first child groups (the largest: the children of short prefixes, where the format's
#   samples leave the longest skips), a terminal rank every 32 nodes, a HASKIDS rank every
#   64: 8 KB with 1,024 groups for the default model, about 3,000 instructions per token;
# - file mode: T[RCACHE], a direct-mapped cache of centroid rows (4 + dims bytes each),
#   the largest power of two of rows that fits, up to one slot per row: 2,048 rows save 85%
#   of the row reads, 256 rows 71%, 64 rows 50%, 16 rows 29% (one read, about 2,800
#   instructions on cortex-m0, per miss);
# - then 4,096 groups instead of 1,024 (6 KB more, about 130 instructions per token).
_GROUPS = const(1024)
_GROUPS_MORE = const(4096)
_RCACHE = const(8)  # rows at least
# slots of T and c (copies of _tok_py.py's: tests/test_device_layout.py), section ids (_load.py's)
_T_ACCEL = const(16)
_T_RCACHE = const(21)
_C_NRC = const(42)
_NODES = const(6)
# a buffer model's share of the heap: ram=None's (copies of _load.py's, which explains them)
_CORE_SHARE = const(24 * 1024)
_MAX_SHARE = const(44 * 1024)
_MIN_FREE = const(48 * 1024)


def spend(tk, m, ntok, npool, spare):
    # The native core's RAM tables (ntok: its tokenizer runs) and row cache (npool: its
    # file-mode pooling runs), within what the budget leaves after the tables and the page
    # cache (for a buffer model: ram=None's share of the heap): spare bytes (tok.py).
    # gc.mem_free() is the total, not the largest block: an allocation that the heap's fragments cannot
    # hold raises MemoryError, and the next smaller size is tried. spare None: a buffer model,
    # whose share of the heap is ram=None's for file mode.
    if spare is None:
        import gc

        gc.collect()
        spare = gc.mem_free()
        spare = min(max(spare // 3, _CORE_SHARE), spare >> 1, _MAX_SHARE) if spare >= _MIN_FREE else 0
    nn = len(m._s[_NODES])
    base = (nn >> 5) + (nn >> 6) + 2  # the rank tables' entries
    g = 0
    if ntok and nn < 65536 and spare >= 2 * (_GROUPS + base):
        g = _GROUPS
        spare -= 2 * (g + base)
    rows = 0
    if npool and m.cache:
        rows = _RCACHE
        while rows < m.n_centroids:
            rows <<= 1
    while rows and rows * (4 + m.dims) > spare:
        rows = rows >> 1 if rows > _RCACHE else 0
    spare -= rows * (4 + m.dims)
    if g and spare >= 2 * (_GROUPS_MORE - _GROUPS):
        g = _GROUPS_MORE
    # bytearrays, allocated in place (array(t, bytes(n)) would first make a temporary
    # copy of n bytes, whose hole then splits the free heap the application gets)
    while g:
        try:
            tk.T[_T_ACCEL] = bytearray(2 * (g + base))
            tk.accel = 2 * (g + base)
            break
        except MemoryError:
            g = _GROUPS if g > _GROUPS else 0
    while rows:
        try:
            rc = tk.T[_T_RCACHE] = bytearray(rows * (4 + m.dims))
            break
        except MemoryError:
            rows = rows >> 1 if rows > _RCACHE else 0
    if rows:
        for k in range(4 * rows):
            rc[k] = 255  # empty: the tags -1
        tk.c[_C_NRC] = rows
        tk.accel += rows * (4 + m.dims)
