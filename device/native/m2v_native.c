// The native core of m2v's pooling (docs/FORMAT.md §6): the bit-identical C twin of
// the viper loops of m2v/_pool_viper.py (acc_row, acc_recs, normalize_into), built with MicroPython's
// py/dynruntime.mk for each architecture (make native) and loaded (m2v/_pool_native.py)
// when the board's build of the package carries it. Integer bounds are the format's:
// |wcode| * 127 * max_length < 2**30, so every accumulator fits an int32 and every
// sum of squares after scaling stays below 2**30; nothing here can overflow.
// Every table read is bounds-checked: a damaged model raises, never reads past a buffer.
#include "py/dynruntime.h"

static void *buffer(mp_obj_t o, size_t *len, mp_uint_t flags) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(o, &bi, flags);
    *len = bi.len;
    return bi.buf;
}

// A little-endian bit field of at most 17 bits starting at bit pos, read from at most
// three bytes, as _poolpy._field (bytes past the end of the records read as zero).
static uint32_t field(const uint8_t *r, size_t nrec, uint32_t pos, uint32_t mask) {
    size_t b = pos >> 3;
    uint32_t v = r[b];
    if (b + 1 < nrec) {
        v |= (uint32_t)r[b + 1] << 8;
        if (b + 2 < nrec) {
            v |= (uint32_t)r[b + 2] << 16;
        }
    }
    return (v >> (pos & 7)) & mask;
}

// acc_row(acc, row, m, n): acc[d] += m * row[d] for one token's centroid row (file mode
// reads the row into a buffer first).
static mp_obj_t acc_row(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t nacc, nrow;
    int32_t *acc = buffer(args[0], &nacc, MP_BUFFER_RW);
    const int8_t *row = buffer(args[1], &nrow, MP_BUFFER_READ);
    int32_t m = mp_obj_get_int(args[2]);
    mp_int_t n = mp_obj_get_int(args[3]);
    if (n < 0 || (size_t)n > nacc / 4 || (size_t)n > nrow) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
    for (mp_int_t d = 0; d < n; d++) {
        acc[d] += m * row[d];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(acc_row_obj, 4, 4, acc_row);

// acc_recs(acc, cen, rec, out, n, wcodes, rb, ib, mb, wb, dims): for the tokens whose
// record numbers are out[0:n], acc[d] += wcodes[code] * centroid[row][d].
static mp_obj_t acc_recs(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t nacc, ncen, nrec, nout, nwc;
    int32_t *acc = buffer(args[0], &nacc, MP_BUFFER_RW);
    const int8_t *cen = buffer(args[1], &ncen, MP_BUFFER_READ);
    const uint8_t *rec = buffer(args[2], &nrec, MP_BUFFER_READ);
    const int32_t *out = buffer(args[3], &nout, MP_BUFFER_READ);
    mp_int_t n = mp_obj_get_int(args[4]);
    const int16_t *wcodes = buffer(args[5], &nwc, MP_BUFFER_READ);
    mp_int_t rb = mp_obj_get_int(args[6]);
    mp_int_t ib = mp_obj_get_int(args[7]);
    mp_int_t mb = mp_obj_get_int(args[8]);
    mp_int_t wb = mp_obj_get_int(args[9]);
    mp_int_t dims = mp_obj_get_int(args[10]);
    if (n < 0 || (size_t)n > nout / 4 || dims < 0 || (size_t)dims > nacc / 4 || mb > 17 || wb > 17
        || (size_t)1 << wb > nwc / 2) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
    uint32_t mmask = ((uint32_t)1 << mb) - 1, wmask = ((uint32_t)1 << wb) - 1;
    for (mp_int_t k = 0; k < n; k++) {
        uint32_t pos = (uint32_t)out[k] * (uint32_t)rb + (uint32_t)ib;
        if (out[k] < 0 || ((pos + mb + wb - 1) >> 3) >= nrec) {
            mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("record out of range"));  // as rec[b] in _poolpy
        }
        uint32_t row = field(rec, nrec, pos, mmask);
        int32_t m = wcodes[field(rec, nrec, pos + mb, wmask)];
        if ((size_t)(row + 1) * (size_t)dims > ncen) {
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: centroid row out of range"));
        }
        const int8_t *rp = cen + (size_t)row * dims;
        for (mp_int_t d = 0; d < dims; d++) {
            acc[d] += m * rp[d];
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(acc_recs_obj, 11, 11, acc_recs);

// Floor square root of 0 <= x < 2**30, bit by bit (as _poolpy.isqrt).
static uint32_t isqrt(uint32_t x) {
    uint32_t r = 0, bit = (uint32_t)1 << 28;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

// x / y for y > 0: armv6m (the RP2040's Cortex-M0+) has no divide instruction, and a
// native module links no libgcc, so there it is shift-and-subtract; elsewhere the CPU's.
static inline uint32_t udiv(uint32_t x, uint32_t y) {
    #if defined(__ARM_ARCH_6M__)
    uint32_t q = 0, r = 0;
    for (int i = 31; i >= 0; i--) {
        r = (r << 1) | ((x >> i) & 1);
        if (r >= y) {
            r -= y;
            q |= (uint32_t)1 << i;
        }
    }
    return q;
    #else
    return x / y;
    #endif
}

// normalize_into(acc, out, n, norm_bits, q): acc reduced to a unit vector in Q(q) in
// out (§6 steps 2-5); acc is rescaled in place, as the twins do.
static mp_obj_t normalize_into(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t nacc, nout;
    int32_t *acc = buffer(args[0], &nacc, MP_BUFFER_RW);
    int16_t *out = buffer(args[1], &nout, MP_BUFFER_RW);
    mp_int_t n = mp_obj_get_int(args[2]);
    mp_int_t norm_bits = mp_obj_get_int(args[3]);
    mp_int_t q = mp_obj_get_int(args[4]);
    if (n < 0 || (size_t)n > nacc / 4 || (size_t)n > nout / 2 || norm_bits < 1 || norm_bits > 30 || q < 0 || q > 15) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: normalisation arguments out of range"));
    }
    uint32_t m = 0;
    for (mp_int_t d = 0; d < n; d++) {
        uint32_t v = acc[d] < 0 ? (uint32_t)0 - (uint32_t)acc[d] : (uint32_t)acc[d];
        if (v > m) {
            m = v;
        }
    }
    if (m == 0) {
        for (mp_int_t d = 0; d < n; d++) {
            out[d] = 0;
        }
        return mp_const_none;
    }
    mp_int_t k = norm_bits;
    for (uint32_t t = m; t; t >>= 1) {
        k--;
    }
    // now 2**(norm_bits-1) <= m * 2**k < 2**norm_bits, and the sum of squares < 2**30
    uint64_t ss = 0;  // wide, so that a bad norm_bits is caught below rather than wrapped
    for (mp_int_t d = 0; d < n; d++) {
        int32_t v = acc[d];
        uint32_t a = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
        a = k >= 0 ? a << k : a >> -k;
        acc[d] = v < 0 ? -(int32_t)a : (int32_t)a;
        if (a >= (uint32_t)1 << 15) {  // a*a >= 2**30: only a header past the load checks gets here
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: norm_bits out of range"));
        }
        ss += a * a;  // a 64-bit sum of 30-bit squares: no multiply helper needed on armv6m
    }
    if (ss >= (uint32_t)1 << 30) {  // only a header past the load checks can get here
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: norm_bits out of range"));
    }
    uint32_t r = isqrt((uint32_t)ss);  // >= 1: m > 0 leaves some |v[d]| >= 2**(norm_bits-1)
    if (ss - r * r > r) {
        r++;
    }
    uint32_t half = r >> 1;
    for (mp_int_t d = 0; d < n; d++) {
        int32_t v = acc[d];
        if (v < 0) {
            out[d] = -(int16_t)udiv((((uint32_t)0 - (uint32_t)v) << q) + half, r);
        } else {
            out[d] = (int16_t)udiv(((uint32_t)v << q) + half, r);
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(normalize_into_obj, 5, 5, normalize_into);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_acc_row, MP_OBJ_FROM_PTR(&acc_row_obj));
    mp_store_global(MP_QSTR_acc_recs, MP_OBJ_FROM_PTR(&acc_recs_obj));
    mp_store_global(MP_QSTR_normalize_into, MP_OBJ_FROM_PTR(&normalize_into_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
