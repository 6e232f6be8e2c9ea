# The tokenizer's cold path (docs/FORMAT.md §3): the normalisation of a code point whose
# NORM_RUNS kind the cores' scans leave to Python (STR: a string from NORM_POOL; HANGUL: a
# syllable's conjoining jamo; and every kind on the paths around an added token). m2v/tok.py
# imports it on the first such code point.
from micropython import const

_C_RLO = const(12)  # a copy of _tok_py.py's (tests/test_device_layout.py)
_SB = const(0xAC00)
_LB = const(0x1100)
_VB = const(0x1161)
_TB = const(0x11A7)
_NC = const(588)
_TC = const(28)


def norm(tk, cp):
    # Normalise one code point >= 0x80 through NORM_RUNS (Tokenizer._norm).
    m = tk.m
    runs = m.runs
    o = tk._find_run(cp) * 6
    kb = runs[o + 3]
    arg = runs[o + 4] | (runs[o + 5] << 8)
    kind = kb & 7
    iso = kb & 8
    if kind == 2:  # DELTA
        if arg > 0x7FFF:
            arg -= 0x10000
        tk._out(cp + arg, iso)
    elif kind == 0:  # DROP
        return
    elif kind == 1:  # SPACE
        tk.flush()
    elif kind == 3:  # ALT
        if arg > 0x7FFF:
            arg -= 0x10000
        tk._out(cp + arg if (cp - tk.c[_C_RLO]) & 1 == 0 else cp, iso)
    elif kind == 4:  # STR: n UTF-8 bytes from the pool
        n = kb >> 4
        pool = m.pool
        p = arg + (cp - tk.c[_C_RLO]) * n
        b = bytearray(n)
        for k in range(n):
            b[k] = pool[p + k]
        for ch in str(b, "utf-8"):
            tk._out(ord(ch), iso)
    elif kind == 5:  # HANGUL syllable -> conjoining jamo
        s = cp - _SB
        tk._out(_LB + s // _NC, iso)
        tk._out(_VB + (s % _NC) // _TC, iso)
        t = s % _TC
        if t:
            tk._out(_TB + t, iso)
    else:
        raise ValueError("corrupt m2v model: unknown normaliser kind")
