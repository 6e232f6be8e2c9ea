// What the compiler's runtime library would give (no compiler-rt for Xtensa in Debian):
// 64-bit division and multiplication, written with 32-bit operations only.
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem) {
    uint64_t q = 0;
    if (d == 0) {
        if (rem) {
            *rem = n;
        }
        return ~(uint64_t)0;
    }
    if ((n >> 32) == 0 && (d >> 32) == 0) {
        uint32_t n32 = (uint32_t)n, d32 = (uint32_t)d;
        if (rem) {
            *rem = n32 % d32;
        }
        return n32 / d32;
    }
    uint64_t r = 0;
    for (int i = 63; i >= 0; --i) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    if (rem) {
        *rem = r;
    }
    return q;
}

uint64_t __udivdi3(uint64_t n, uint64_t d) {
    return __udivmoddi4(n, d, 0);
}

uint64_t __umoddi3(uint64_t n, uint64_t d) {
    uint64_t r;
    __udivmoddi4(n, d, &r);
    return r;
}

int64_t __divdi3(int64_t n, int64_t d) {
    uint64_t q = __udivmoddi4(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, 0);
    return (n < 0) != (d < 0) ? -(int64_t)q : (int64_t)q;
}

int64_t __moddi3(int64_t n, int64_t d) {
    uint64_t r;
    __udivmoddi4(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, &r);
    return n < 0 ? -(int64_t)r : (int64_t)r;
}

// the low 32x32 -> 64 product from 16-bit halves (the core has no MUL32_HIGH)
static uint64_t mul32x32(uint32_t a, uint32_t b) {
    uint32_t al = a & 0xffff, ah = a >> 16, bl = b & 0xffff, bh = b >> 16;
    uint32_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint32_t mid = (ll >> 16) + (lh & 0xffff) + (hl & 0xffff);
    uint32_t lo = (ll & 0xffff) | (mid << 16);
    uint32_t hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16);
    return ((uint64_t)hi << 32) | lo;
}

int64_t __muldi3(int64_t a, int64_t b) {
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    uint64_t p = mul32x32((uint32_t)ua, (uint32_t)ub);
    uint32_t cross = (uint32_t)ua * (uint32_t)(ub >> 32) + (uint32_t)(ua >> 32) * (uint32_t)ub;
    return (int64_t)(p + ((uint64_t)cross << 32));
}

// Single-precision division (the FPU has no divide instruction LLVM uses), IEEE 754 round to
// nearest even, and the float/double conversions MicroPython's float code needs; all through
// integer bits.
typedef union {
    float f;
    uint32_t i;
} fbits;
typedef union {
    double d;
    uint64_t i;
} dbits;

static float f_from(uint32_t i) {
    fbits u;
    u.i = i;
    return u.f;
}

// sign, a 24+ bit mantissa m (value m * 2^e), rounded into a float
static float f_round(uint32_t sign, uint64_t m, int e) {
    if (m == 0) {
        return f_from(sign);
    }
    // normalise m to [2^26, 2^27): 24 bits, guard, round, sticky kept below
    while (m >= ((uint64_t)1 << 27)) {
        m = (m >> 1) | (m & 1);
        e++;
    }
    while (m < ((uint64_t)1 << 26)) {
        m <<= 1;
        e--;
    }
    int be = e + 26 + 127;  // biased exponent of the leading bit
    if (be >= 255) {
        return f_from(sign | 0x7f800000u);
    }
    if (be <= 0) {  // subnormal: shift right, keep sticky
        int sh = 1 - be;
        if (sh > 30) {
            return f_from(sign);
        }
        uint64_t lost = m & (((uint64_t)1 << sh) - 1);
        m = (m >> sh) | (lost != 0);
        be = 0;
    }
    uint32_t mm = (uint32_t)m;
    uint32_t q = mm >> 3, rest = mm & 7;
    if (rest > 4 || (rest == 4 && (q & 1))) {
        q++;
    }
    // q holds the 24-bit mantissa with its leading bit; a carry out moves the exponent
    uint32_t bits = (be == 0 ? 0 : (uint32_t)(be - 1) << 23) + q;
    return f_from(sign | bits);
}

float __divsf3(float a, float b) {
    fbits ua = {a}, ub = {b};
    uint32_t sign = (ua.i ^ ub.i) & 0x80000000u;
    int ea = (ua.i >> 23) & 0xff, eb = (ub.i >> 23) & 0xff;
    uint32_t ma = ua.i & 0x7fffff, mb = ub.i & 0x7fffff;
    if (ea == 255 || eb == 255) {
        if ((ea == 255 && ma) || (eb == 255 && mb) || (ea == 255 && eb == 255)) {
            return f_from(0x7fc00000u);
        }
        return ea == 255 ? f_from(sign | 0x7f800000u) : f_from(sign);
    }
    if (eb == 0 && mb == 0) {
        return (ea == 0 && ma == 0) ? f_from(0x7fc00000u) : f_from(sign | 0x7f800000u);
    }
    if (ea == 0 && ma == 0) {
        return f_from(sign);
    }
    ma = ea ? ma | 0x800000 : ma;
    mb = eb ? mb | 0x800000 : mb;
    ea = ea ? ea : 1;
    eb = eb ? eb : 1;
    while (ma < 0x800000) {
        ma <<= 1;
        ea--;
    }
    while (mb < 0x800000) {
        mb <<= 1;
        eb--;
    }
    // 27 quotient bits and a sticky bit, by long division
    uint32_t q = 0, r = ma;
    for (int i = 0; i < 27; ++i) {
        q <<= 1;
        if (r >= mb) {
            r -= mb;
            q |= 1;
        }
        r <<= 1;
    }
    uint64_t m = ((uint64_t)q << 1) | (r != 0);
    // ma/mb in [0.5, 2): q = ma/mb * 2^26, m = q * 2
    return f_round(sign, m, ea - eb - 27);
}

double __extendsfdf2(float a) {
    fbits u = {a};
    dbits r;
    uint64_t sign = (uint64_t)(u.i >> 31) << 63;
    int e = (u.i >> 23) & 0xff;
    uint64_t m = u.i & 0x7fffff;
    if (e == 255) {
        r.i = sign | ((uint64_t)0x7ff << 52) | (m << 29);
    } else if (e == 0) {
        if (m == 0) {
            r.i = sign;
        } else {
            int de = 1 - 127 + 1023;
            while (!(m & 0x800000)) {
                m <<= 1;
                de--;
            }
            r.i = sign | ((uint64_t)de << 52) | ((m & 0x7fffff) << 29);
        }
    } else {
        r.i = sign | ((uint64_t)(e - 127 + 1023) << 52) | (m << 29);
    }
    return r.d;
}

float __truncdfsf2(double a) {
    dbits u = {a};
    uint32_t sign = (uint32_t)(u.i >> 63) << 31;
    int e = (int)((u.i >> 52) & 0x7ff);
    uint64_t m = u.i & 0xfffffffffffffull;
    if (e == 0x7ff) {
        return f_from(sign | 0x7f800000u | (m ? 0x400000u | (uint32_t)(m >> 29) : 0));
    }
    if (e == 0) {
        return f_from(sign);  // double subnormals are far below float's range
    }
    m |= (uint64_t)1 << 52;
    // keep 27 bits and a sticky bit: value = m * 2^(e - 1023 - 52)
    uint64_t kept = (m >> 26) | ((m & ((1u << 26) - 1)) != 0);
    return f_round(sign, kept, e - 1023 - 52 + 26);
}

double __floatsidf(int a) {
    dbits r;
    if (a == 0) {
        r.i = 0;
        return r.d;
    }
    uint64_t sign = a < 0 ? (uint64_t)1 << 63 : 0;
    uint32_t m = a < 0 ? -(uint32_t)a : (uint32_t)a;
    int e = 31;
    while (!(m & 0x80000000u)) {
        m <<= 1;
        e--;
    }
    r.i = sign | ((uint64_t)(e + 1023) << 52) | (((uint64_t)m << 21) & 0xfffffffffffffull);
    return r.d;
}

int __finitef(float x) {
    fbits u = {x};
    return ((u.i >> 23) & 0xff) != 0xff;
}

// wcslen, for custom firmware with frozen modules: LLVM makes py/frozenmod.c's loop over the
// frozen modules' sizes (uint32_t, up to a zero) into a call to it (no_builtin: not into itself)
#include <wchar.h>
__attribute__((no_builtin("wcslen"))) size_t wcslen(const wchar_t *s) {
    const wchar_t *p = s;
    while (*p) {
        p++;
    }
    return (size_t)(p - s);
}
