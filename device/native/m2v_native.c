// The native core of m2v (a MicroPython native module, m2v/_native.mpy): bit-identical C
// twins of the hot paths, built with MicroPython's py/dynruntime.mk for each architecture
// (make native) and loaded when the board's build of the package carries it:
// - the tokenizer (docs/FORMAT.md §3, §5): scan, flush, field (buffers or file
//   sections through the page cache; with RAM tables that refine the trie's samples:
//   build_accel), twins of m2v/_tok_py.py's, and embed, a whole embed in one call;
// - pooling (§6): zero, acc_row, acc_recs, acc_recs_f (file mode), normalize_into, twins of
//   m2v/_pool_py.py's;
// - scan_rows, the int8 row scan of the index and the classifier, twin of m2v/_rows.py's _scan_py.
// m2v/tok.py selects these or the twins (m2v.use). Twins by design within this file:
// mac_t1 and mac2_t1, the Thumb-1 multiply-adds of one row and of two, the same element;
// quotients14_t1's two elements a pass (scale_t1's and scale_safe_t1's loops share one
// element each, M2V_SCALE_CHECKED and M2V_SCALE_EL, shifted left or right); child_ram's
// and child's group skips (the RAM step keeps its own for speed); pc_page's look for a page
// in its set and span's (span's written out, for speed).
// Integer bounds are the format's: |wcode| * 127 * max_length < 2**30, so every
// accumulator fits an int32 and every sum of squares after scaling stays below 2**30;
// nothing here can overflow. Every table read is bounds-checked: a damaged model raises,
// never reads past a buffer.
// One source, two builds: the native module above (MICROPY_ENABLE_DYNRUNTIME, set by
// py/dynruntime.mk: the runtime reached through mp_fun_table, the module's globals stored by
// mpy_init) and a user C module built into firmware (micropython.mk, micropython.cmake:
// the runtime called directly, the built-in module _m2v_native with a const globals table in
// flash). Both export the functions listed once in M2V_FUNCTIONS at the end.
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/objlist.h"
#include "py/runtime.h"
#include "py/stream.h"
#endif

// small helpers inlined whatever -Os decides: a call costs more than their bodies in the loops
#define INLINE static inline __attribute__((always_inline))

// a 32-bit load or store of bytes (only ever at an aligned address: Cortex-M0 faults otherwise)
typedef uint32_t __attribute__((may_alias)) word_t;

static void *buffer(mp_obj_t o, size_t *len, mp_uint_t flags) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(o, &bi, flags);
    *len = bi.len;
    return bi.buf;
}

// T[k] (a list of the package's tables: m2v/_tok_py.py's layout), or a slot of the page cache:
// a list's item read directly (each call reads about twenty, per text), anything else or an
// index past the end through the runtime's subscript (which raises as T[k] would)
static mp_obj_t item(mp_obj_t T, int k) {
    if (mp_obj_get_type(T) == &mp_type_list) {
        mp_obj_list_t *l = MP_OBJ_TO_PTR(T);
        if ((size_t)k < l->len) {
            return l->items[k];
        }
    }
    return mp_obj_subscr(T, MP_OBJ_NEW_SMALL_INT(k), MP_OBJ_SENTINEL);
}

// x / y for y > 0. armv6m (the RP2040's Cortex-M0+) has no divide instruction and a native
// module links no libgcc: there it is shift-and-subtract (used once per call, never per element).
static uint32_t udiv32(uint32_t x, uint32_t y) {
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

// A little-endian bit field of at most 17 bits starting at bit pos, read from at most
// three bytes, as _poolpy._field (bytes past the end of the records read as zero).
INLINE uint32_t field(const uint8_t *r, size_t nrec, uint32_t pos, uint32_t mask) {
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

// p[0:n] = 0, four words per pass (about 1.75 instructions a word on armv6m, where the plain
// loop takes 4). An embed zeroes no accumulator before its first pass (pool_recs' set), only
// where no token was pooled.
static void zero32(int32_t *p, size_t n) {
    int32_t *e = p + n;
    for (; p + 4 <= e; p += 4) {
        p[0] = 0, p[1] = 0, p[2] = 0, p[3] = 0;
    }
    for (; p < e; p++) {
        *p = 0;
    }
}

// zero(acc, n): acc[0:n] = 0, the sums of a new text
static mp_obj_t zero(mp_obj_t acc_in, mp_obj_t n_in) {
    size_t nacc;
    int32_t *acc = buffer(acc_in, &nacc, MP_BUFFER_RW);
    mp_int_t n = mp_obj_get_int(n_in);
    if (n < 0 || (size_t)n > nacc / 4) {
        mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("m2v table index out of range"));
    }
    zero32(acc, (size_t)n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(zero_obj, zero);

#if defined(__ARM_ARCH_6M__)
// mac2's loop for n a positive multiple of 8, in Thumb-1 by hand (the RP2040's Cortex-M0+):
// a signed byte load takes a register offset only, so one index (r5) serves both rows,
// and acc (r0), advanced once per eight elements, takes immediate offsets; all eight low
// registers are in use, which gcc cannot give an asm statement (r7 is its frame pointer),
// hence a whole function. 9 instructions per element for two products, where gcc's code
// takes about 12.5 (a movs for each constant offset, the loop's bookkeeping every four).
// The same int32 sums as mac2's C, acc[d] + (m * row[d] + m2 * row2[d]): bit-identical.
// Two 16-bit lanes per register would not pay: a weight code goes up to mult_max (16,513
// for max_length 512, docs/FORMAT.md §6), so m * row[d] needs 22 bits and two products
// do not fit one 32-bit multiply; splitting m into bytes to make them fit doubles the
// multiplies and still needs a lane unpacked into acc per token. Nor would three rows a pass
// (12 instructions for three products, 4 a product where this takes 4.5): they need ten low
// registers (acc, the index, three rows, three multipliers, two temporaries), and Thumb-1's
// multiply and register-offset signed byte load take low registers only (a multiplier moved
// in from a high register costs the instruction it saves).
// AAPCS: acc r0, row r1, m r2, row2 r3, m2 and n on the stack. The set variants (set2_t1,
// set_t1: a text's first pass, mac's set) store m * row[d] (+ m2 * row2[d]) where these add to
// acc[d], so that acc needs no zeroing first: 7 and 4 instructions per element. One body each
// for a row pair (M2V_MAC2_FN) and a row (M2V_MAC_FN), its element (EL) the difference.
#define M2V_MAC2_EL(k) \
    "ldrsb r6, [r1, r5]\n" \
    "ldrsb r7, [r3, r5]\n" \
    "muls r6, r2, r6\n" \
    "muls r7, r4, r7\n" \
    "adds r6, r6, r7\n" \
    "ldr r7, [r0, #" #k "]\n" \
    "adds r7, r7, r6\n" \
    "str r7, [r0, #" #k "]\n" \
    "adds r5, r5, #1\n"
#define M2V_SET2_EL(k) \
    "ldrsb r6, [r1, r5]\n" \
    "ldrsb r7, [r3, r5]\n" \
    "muls r6, r2, r6\n" \
    "muls r7, r4, r7\n" \
    "adds r6, r6, r7\n" \
    "str r6, [r0, #" #k "]\n" \
    "adds r5, r5, #1\n"
#define M2V_MAC2_FN(name, EL) \
    static __attribute__((naked, noinline)) void name(int32_t *acc, const int8_t *row, int32_t m, \
        const int8_t *row2, int32_t m2, size_t n) { \
        __asm__ volatile ( \
            ".syntax unified\n"  /* gcc's own Thumb-1 output is in the divided syntax */ \
            "push {r4, r5, r6, r7, lr}\n" \
            "ldr r4, [sp, #20]\n"  /* m2 */ \
            "ldr r5, [sp, #24]\n"  /* n */ \
            "mov ip, r5\n" \
            "movs r5, #0\n" \
            "1:\n" \
            EL(0) EL(4) EL(8) EL(12) EL(16) EL(20) EL(24) EL(28) \
            "adds r0, r0, #32\n" \
            "cmp r5, ip\n" \
            "bne 1b\n" \
            "pop {r4, r5, r6, r7, pc}\n" \
            ".syntax divided\n"); \
    }
M2V_MAC2_FN(mac2_t1, M2V_MAC2_EL)
M2V_MAC2_FN(set2_t1, M2V_SET2_EL)

// mac's loop for n a positive multiple of 8, the same way (acc r0, row r1, m r2, n r3):
// 6 instructions per element where gcc's code takes about 7.5. Bit-identical to mac's C.
#define M2V_MAC_EL(k) \
    "ldrsb r6, [r1, r5]\n" \
    "muls r6, r2, r6\n" \
    "ldr r7, [r0, #" #k "]\n" \
    "adds r7, r7, r6\n" \
    "str r7, [r0, #" #k "]\n" \
    "adds r5, r5, #1\n"
#define M2V_SET_EL(k) \
    "ldrsb r6, [r1, r5]\n" \
    "muls r6, r2, r6\n" \
    "str r6, [r0, #" #k "]\n" \
    "adds r5, r5, #1\n"
#define M2V_MAC_FN(name, EL) \
    static __attribute__((naked, noinline)) void name(int32_t *acc, const int8_t *row, int32_t m, size_t n) { \
        __asm__ volatile ( \
            ".syntax unified\n" \
            "push {r4, r5, r6, r7, lr}\n" \
            "movs r5, #0\n" \
            "1:\n" \
            EL(0) EL(4) EL(8) EL(12) EL(16) EL(20) EL(24) EL(28) \
            "adds r0, r0, #32\n" \
            "cmp r5, r3\n" \
            "bne 1b\n" \
            "pop {r4, r5, r6, r7, pc}\n" \
            ".syntax divided\n"); \
    }
M2V_MAC_FN(mac_t1, M2V_MAC_EL)
M2V_MAC_FN(set_t1, M2V_SET_EL)
#undef M2V_MAC2_EL
#undef M2V_SET2_EL
#undef M2V_MAC2_FN
#undef M2V_MAC_EL
#undef M2V_SET_EL
#undef M2V_MAC_FN
#endif

// acc[0:n] += m * row[0:n], eight at a time: Thumb-1 has no immediate-offset signed byte
// load, so the unrolled body reads with constant offsets and sign-extends (about 6
// instructions per element on Cortex-M0 instead of 10). set: acc holds no sums yet (a text's
// first pass, embed_run): acc[0:n] = m * row[0:n], the same sums without zeroing acc first
// (on armv6m set_t1 stores them; elsewhere acc is zeroed here).
static void mac(int32_t *acc, const int8_t *row, int32_t m, size_t n, int set) {
    size_t d = 0;
    #if defined(__ARM_ARCH_6M__)
    if (n >= 8) {
        size_t n8 = n & ~(size_t)7;
        (set ? set_t1 : mac_t1)(acc, row, m, n8);
        d = n8, acc += n8, row += n8;
    }
    #endif
    if (set) {
        zero32(acc, n - d);
    }
    #if !defined(__ARM_ARCH_6M__)  // (there mac_t1 leaves fewer than 8)
    for (; d + 8 <= n; d += 8, acc += 8, row += 8) {
        acc[0] += m * row[0];
        acc[1] += m * row[1];
        acc[2] += m * row[2];
        acc[3] += m * row[3];
        acc[4] += m * row[4];
        acc[5] += m * row[5];
        acc[6] += m * row[6];
        acc[7] += m * row[7];
    }
    #endif
    for (; d < n; d++) {
        *acc++ += m * *row++;
    }
}


// acc[0:n] += m * row[0:n] + m2 * row2[0:n]: two tokens per pass over acc, one load and
// one store of acc[d] for two products; set as mac's
static __attribute__((noinline)) void mac2(int32_t *acc, const int8_t *row, int32_t m, const int8_t *row2,
    int32_t m2, size_t n, int set) {
    size_t d = 0;
    #if defined(__ARM_ARCH_6M__)
    if (n >= 8) {
        size_t n8 = n & ~(size_t)7;
        (set ? set2_t1 : mac2_t1)(acc, row, m, row2, m2, n8);
        d = n8, acc += n8, row += n8, row2 += n8;
    }
    #endif
    if (set) {
        zero32(acc, n - d);
    }
    #if !defined(__ARM_ARCH_6M__)  // (there mac2_t1 leaves fewer than 8)
    for (; d + 4 <= n; d += 4, acc += 4, row += 4, row2 += 4) {
        acc[0] += m * row[0] + m2 * row2[0];
        acc[1] += m * row[1] + m2 * row2[1];
        acc[2] += m * row[2] + m2 * row2[2];
        acc[3] += m * row[3] + m2 * row2[3];
    }
    #endif
    for (; d < n; d++) {
        *acc++ += m * *row++ + m2 * *row2++;
    }
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
    mac(acc, row, m, (size_t)n, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(acc_row_obj, 4, 4, acc_row);

// file mode's page cache (m2v/model.py PageCache): the pages in one buffer, page q of the
// file in a slot of set q & m (m = sm >> wsh: one slot, or with four ways each set's slot plus
// 1, 2 or 3 times the sets), its number in tags[slot] (four ways: the way a miss takes next
// in tags[sm + 1 + set]); the file's stream protocol (sp: a built-in
// binary stream, such as a file of the board's filesystem: a page is read straight into its
// slot), or else its methods (mp_load_method: no bound method allocated) and page, the
// buffer of one page a Python-level stream's readinto fills (then copied into the slot: no
// object per slot, no allocation per read); misses, the pages read so far (a reader that
// holds a pointer into a slot knows it may be stale)
typedef struct {
    uint8_t *pages;
    int32_t *tags;
    mp_obj_t page;
    const uint8_t *pagebuf;
    uint32_t sm, m, wsh, misses;
    mp_obj_t seek[2], readinto[2];
    mp_obj_t file;
    const mp_stream_p_t *sp;
} pc_t;

// What pooling reads: the accumulator, the centroids, the records and their layout, the
// weight codes (docs/FORMAT.md §5, §6).
typedef struct {
    int32_t *acc;
    const int8_t *cen;
    const uint8_t *rec;
    const int16_t *wcodes;
    size_t ncen, nrec;  // bytes of CENTROIDS and of RECORDS
    uint32_t rb, ib, mb, wb, dims;
    int fresh;  // acc holds no sums yet (embed_run): the first pass stores them (mac's set)
    // file mode (cen and rec NULL): the records through the model's page cache (pc_page),
    // each centroid row read into row, at file offsets orc and ocen
    pc_t pc;
    mp_obj_t rowobj;
    int8_t *row;
    uint32_t orc, ocen;
    // file mode's centroid-row cache (T[RCACHE], or NULL): row r in slot r & rmask, whose
    // row number is rtags[slot] (-1: empty)
    int32_t *rtags;
    int8_t *rrows;
    uint32_t rmask;
} pool_t;

// file mode's page cache (m2v/model.py PageCache, docs/FORMAT.md's byte offsets): page q of
// the file, 2**PS bytes, lives in a slot of its set (one slot, or WAYS: c[C_WSH]), its number
// in tags[slot] (copies of model.PS and model.WAYS: tests/test_device_layout.py)
#define PS 6
#define WAYS 4

// dst[0:n] = src[0:n], a word at a time when both are aligned (no libc memcpy in a native module)
static void copy(int8_t *dst, const int8_t *src, size_t n) {
    size_t i = 0;
    if ((((uintptr_t)dst | (uintptr_t)src) & 3) == 0) {
        for (; i + 4 <= n; i += 4) {
            *(word_t *)(dst + i) = *(const word_t *)(src + i);
        }
    }
    for (; i < n; i++) {
        dst[i] = src[i];
    }
}

// f.method(arg), from mp_load_method's pair
static mp_obj_t call1(const mp_obj_t *meth, mp_obj_t arg) {
    if (meth[1] == MP_OBJ_NULL) {
        return mp_call_function_n_kw(meth[0], 1, 0, &arg);
    }
    mp_obj_t a[2] = {meth[1], arg};
    return mp_call_function_n_kw(meth[0], 2, 0, a);
}

// n bytes at file offset off into dst through the file's stream protocol (pc->sp): its seek
// and read, called directly (through the file's methods a read costs about 420 instructions
// more on cortex-m0: make bench BOARD=cortex-m0, 256 page slots); the bytes read
static size_t stream_at(const pc_t *pc, uint32_t off, void *dst, size_t n) {
    struct mp_stream_seek_t sk;
    sk.offset = off;
    sk.whence = MP_SEEK_SET;
    int err;
    if (pc->sp->ioctl(pc->file, MP_STREAM_SEEK, (uintptr_t)&sk, &err) == MP_STREAM_ERROR) {
        mp_raise_OSError(err);
    }
    mp_uint_t got = pc->sp->read(pc->file, dst, n, &err);
    if (got == MP_STREAM_ERROR) {
        mp_raise_OSError(err);
    }
    return got;
}

// seek to off and fill buf (n bytes at dst) from the model's file: a short read is an error
// (the loader checked the file's size: the file has changed or the stream is broken)
static void read_at(const pool_t *p, uint32_t off, mp_obj_t buf, void *dst, size_t n) {
    if (p->pc.sp) {
        if (stream_at(&p->pc, off, dst, n) == n) {
            return;
        }
    } else {
        call1(p->pc.seek, MP_OBJ_NEW_SMALL_INT(off));
        mp_obj_t got = call1(p->pc.readinto, buf);
        if (got != mp_const_none && (size_t)mp_obj_get_int(got) == n) {
            return;
        }
    }
    mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: short read"));
}

// page q read into its set's slot, or of four ways into the one the set's word names next
// (first in, first out); a page at the end of the file may be short: its missing bytes are
// past every section, never read (apart from pc_page, so that a hit there keeps no frame)
static __attribute__((noinline)) const uint8_t *pc_fill(pc_t *p, uint32_t q) {
    int32_t *t = p->tags;
    uint32_t set = q & p->m, s = set;
    if (p->wsh) {
        uint32_t *next = (uint32_t *)t + p->sm + 1 + set;
        s += (p->m + 1) * (*next & (WAYS - 1));
        *next = (*next + 1) & (WAYS - 1);
    }
    // the slot is empty while it is read: a read that raises part way (an OSError, a
    // KeyboardInterrupt) leaves no tag on bytes of another page for the next call to trust
    t[s] = -1;
    if (p->sp) {
        stream_at(p, q << PS, p->pages + (s << PS), 1 << PS);
    } else {
        call1(p->seek, MP_OBJ_NEW_SMALL_INT(q << PS));
        call1(p->readinto, p->page);
        copy((int8_t *)p->pages + (s << PS), (const int8_t *)p->pagebuf, 1 << PS);
    }
    t[s] = (int32_t)q;
    p->misses++;
    return p->pages + (s << PS);
}

// the page holding file byte q << PS: in its set's first slot (one compare, as span's own
// look), in another of its four ways, or read (pc_fill)
static const uint8_t *pc_page(pc_t *p, uint32_t q) {
    const int32_t *t = p->tags;
    uint32_t s = q & p->m, n = p->m + 1;  // n: the sets, the ways' stride
    if ((uint32_t)t[s] == q
        || (p->wsh && ((uint32_t)t[s += n] == q || (uint32_t)t[s += n] == q || (uint32_t)t[s += n] == q))) {
        return p->pages + (s << PS);
    }
    return pc_fill(p, q);
}

// pc from T's page cache (T[CACHE], T[TAGS], T[PAGE], T[FILE], c[C_SM]: indices below)
static void pc_init(pc_t *pc, mp_obj_t T, const int32_t *cc, mp_obj_t f);

// field() of the records through the page cache: the bytes at or past nrec read as zero
static uint32_t field_f(pool_t *p, uint32_t pos, uint32_t mask) {
    size_t b = pos >> 3;
    uint32_t v = 0;
    for (int k = 0; k < 3 && b + k < p->nrec; k++) {
        uint32_t off = p->orc + (uint32_t)(b + k);
        v |= (uint32_t)pc_page(&p->pc, off >> PS)[off & ((1 << PS) - 1)] << (8 * k);
    }
    return (v >> (pos & 7)) & mask;
}

// The layout's bounds, checked once per call: fields of at most 17 bits, every weight code
// in WCODES, dims within the accumulator, records of at most 64 bits (pool_recs' bound on a
// record number then keeps its bit position from wrapping).
static void pool_check(pool_t *p, size_t nacc, size_t nwc) {
    if (p->dims > nacc / 4 || p->mb > 17 || p->wb > 17 || (size_t)1 << p->wb > nwc / 2 || p->rb < 1 || p->rb > 64
        || p->nrec >= (size_t)1 << 28) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
}

// file mode: centroid row `row` (< the rows: checked), in its slot of the row cache (read
// on a miss), or without one read into the row buffer
static const int8_t *row_f(pool_t *p, uint32_t row) {
    size_t dims = p->dims;
    if (p->rrows) {
        uint32_t slot = row & p->rmask;
        int8_t *sp = p->rrows + (size_t)slot * dims;
        if ((uint32_t)p->rtags[slot] != row) {
            if (p->pc.sp) {  // straight into the slot, empty until the read is whole
                p->rtags[slot] = -1;
                read_at(p, p->ocen + row * dims, p->rowobj, sp, dims);
            } else {
                read_at(p, p->ocen + row * dims, p->rowobj, p->row, dims);
                copy(sp, p->row, dims);
            }
            p->rtags[slot] = (int32_t)row;
        }
        return sp;
    }
    read_at(p, p->ocen + row * dims, p->rowobj, p->row, dims);
    return p->row;
}

// acc += m * row, or on a text's first pass acc = m * row (p->fresh, then cleared)
static void pool1(pool_t *p, const int8_t *row, int32_t m) {
    mac(p->acc, row, m, p->dims, p->fresh);
    p->fresh = 0;
}

// acc += m * row + m2 * row2, the same way
static void pool2(pool_t *p, const int8_t *row, int32_t m, const int8_t *row2, int32_t m2) {
    mac2(p->acc, row, m, row2, m2, p->dims, p->fresh);
    p->fresh = 0;
}

// file mode: the row and weight-code fields of the record whose fields start at bit pos
// (pool_recs has checked that they lie within the records), from one read of the four bytes
// from pos >> 3 on where those hold both (pos & 7 + mb + wb <= 32: the default model's mb + wb
// is 18) and lie within the records and within one page of the cache (the page looked up once,
// where field_f looks it up for every byte: about 200 instructions a token less on cortex-m0);
// else field by field. The same bits either way: the bytes past the records that field_f reads
// as zero are never among the four.
INLINE uint32_t rec_fields_f(pool_t *p, uint32_t pos, uint32_t mmask, uint32_t wmask, uint32_t *code) {
    size_t b = pos >> 3;
    uint32_t off = p->orc + (uint32_t)b, o = off & ((1 << PS) - 1);
    if (p->mb + p->wb <= 25 && b + 4 <= p->nrec && o <= (1 << PS) - 4) {
        const uint8_t *q = pc_page(&p->pc, off >> PS) + o;
        uint32_t v = ((uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24) >> (pos & 7);
        *code = (v >> p->mb) & wmask;
        return v & mmask;
    }
    *code = field_f(p, pos + p->mb, wmask);
    return field_f(p, pos, mmask);
}

// file mode: acc += m * centroid row, through the row cache if any
static void pool_row_f(pool_t *p, uint32_t row, int32_t m) {
    pool1(p, row_f(p, row), m);
}

// acc += wcodes[code] * centroid row: an added token (Model.token's checks)
static void pool_one(pool_t *p, uint32_t row, uint32_t code) {
    if (code >> p->wb || (size_t)(row + 1) * p->dims > p->ncen) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: centroid row out of range"));
    }
    int32_t m = p->wcodes[code];
    if (p->cen) {
        pool1(p, p->cen + (size_t)row * p->dims, m);
    } else {
        pool_row_f(p, row, m);
    }
}

// acc[d] += ms[i] * centroid[rows[i]][d] for i < u, the rows distinct (pool_recs), two a pass
// (mac2); on a text's first pass (p->fresh) with u odd the first row alone, so that its stores
// stand for the zeroing of acc at the cost of one pass of mac's (set_t1 and set2_t1: on
// cortex-m0 about 1,000 instructions less a text). A row whose weights sum to 0 adds nothing.
static void pool_rows(pool_t *p, const uint32_t *rows, const int32_t *ms, size_t u) {
    size_t dims = p->dims;
    int alone = p->fresh && (u & 1);  // the first row alone (then fresh is 0)
    const int8_t *held = NULL;  // a row waiting for a second one (mac2)
    int32_t hm = 0;
    uint32_t hrow = 0;  // file mode: held's row, in its slot of the row cache
    for (size_t i = 0; i < u; i++) {
        uint32_t row = rows[i];
        int32_t m = ms[i];
        if (!m) {
            continue;
        }
        const int8_t *rp;
        if (p->cen) {
            rp = p->cen + (size_t)row * dims;
        } else {  // file mode: a row read unless the row cache holds it
            if (!p->rrows) {  // one row buffer: no row can wait
                pool_row_f(p, row, m);
                continue;
            }
            if (held && row != hrow && !((row ^ hrow) & p->rmask)) {
                pool1(p, held, hm);  // this row's read would overwrite the waiting one's slot
                held = NULL;
            }
            rp = row_f(p, row);
        }
        if (held) {
            pool2(p, held, hm, rp, m);
            held = NULL;
        } else if (alone) {
            pool1(p, rp, m);
            alone = 0;
        } else {
            held = rp;
            hm = m;
            hrow = row;
        }
    }
    if (held) {
        pool1(p, held, hm);
    }
}

// distinct rows a part of pool_recs' merge (a batch with more merges in parts), and its hash
// table's slots (a power of two, at least twice as many: probes stay short)
#define POOL_U 32
#define POOL_H 64

// acc[d] += wcodes[code] * centroid[row][d] for the tokens whose record numbers are out[0:n]:
// the tokens of one row merged first, their weights summed (a text's tokens share rows often:
// 23% of the ASCII tokens of make bench's texts repeat a row of their text, 59% of the
// non-ASCII ones, 49% of the fuzz ones), then each row pooled once (pool_rows). The same int32
// sums: acc[d] is the same sum of m * row[d] terms, grouped by row, and every partial sum stays
// within the format's bound on sum |m| * 127 < 2**30.
static void pool_recs(pool_t *p, const int32_t *out, size_t n) {
    uint32_t mmask = ((uint32_t)1 << p->mb) - 1, wmask = ((uint32_t)1 << p->wb) - 1;
    size_t dims = p->dims;
    uint32_t rows[POOL_U];
    int32_t ms[POOL_U];
    uint32_t slotw[POOL_H / 4];  // slot[h]: 1 + the index in rows of a row hashed to h, 0 empty
    uint8_t *slot = (uint8_t *)slotw;
    size_t u = 0;
    zero32((int32_t *)slotw, POOL_H / 4);
    for (size_t k = 0; k < n; k++) {
        uint32_t pos = (uint32_t)out[k] * p->rb + p->ib;
        // a record number below 2**25 keeps pos below 2**31 + 32 and pos + mb + wb from wrapping
        // (rb <= 64, ib <= 32, mb, wb <= 17: pool_check); past the records, pos's test raises
        if ((uint32_t)out[k] >> 25 || ((pos + p->mb + p->wb - 1) >> 3) >= p->nrec) {
            mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("record out of range"));  // as rec[b] in _pool_py
        }
        uint32_t code, row;
        if (p->cen) {
            row = field(p->rec, p->nrec, pos, mmask);
            code = field(p->rec, p->nrec, pos + p->mb, wmask);
        } else {
            row = rec_fields_f(p, pos, mmask, wmask, &code);
        }
        int32_t m = p->wcodes[code];
        if ((size_t)(row + 1) * dims > p->ncen) {
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: centroid row out of range"));
        }
        uint32_t h = (row * 0x9E3779B1u) >> 26;  // POOL_H == 64: 6 bits
        for (; slot[h]; h = (h + 1) & (POOL_H - 1)) {
            if (rows[slot[h] - 1] == row) {
                break;
            }
        }
        if (slot[h]) {
            ms[slot[h] - 1] += m;
            continue;
        }
        if (u == POOL_U) {  // a full part: pooled, the table emptied
            pool_rows(p, rows, ms, u);
            u = 0;
            zero32((int32_t *)slotw, POOL_H / 4);
            h = (row * 0x9E3779B1u) >> 26;
        }
        rows[u] = row;
        ms[u] = m;
        slot[h] = (uint8_t)++u;
    }
    pool_rows(p, rows, ms, u);
}

// acc_recs(acc, cen, rec, out, n, wcodes, rb, ib, mb, wb, dims): for the tokens whose
// record numbers are out[0:n], acc[d] += wcodes[code] * centroid[row][d].
static mp_obj_t acc_recs(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    pool_t p;
    size_t nacc, nout, nwc;
    p.acc = buffer(args[0], &nacc, MP_BUFFER_RW);
    p.cen = buffer(args[1], &p.ncen, MP_BUFFER_READ);
    p.rec = buffer(args[2], &p.nrec, MP_BUFFER_READ);
    const int32_t *out = buffer(args[3], &nout, MP_BUFFER_READ);
    mp_int_t n = mp_obj_get_int(args[4]);
    p.wcodes = buffer(args[5], &nwc, MP_BUFFER_READ);
    mp_int_t rb = mp_obj_get_int(args[6]), ib = mp_obj_get_int(args[7]), mb = mp_obj_get_int(args[8]);
    mp_int_t wb = mp_obj_get_int(args[9]), dims = mp_obj_get_int(args[10]);
    if (n < 0 || (size_t)n > nout / 4 || dims < 0 || rb < 0 || ib < 0 || ib > 32 || mb < 0 || wb < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
    p.rb = rb, p.ib = ib, p.mb = mb, p.wb = wb, p.dims = dims, p.fresh = 0;
    pool_check(&p, nacc, nwc);
    pool_recs(&p, out, (size_t)n);
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


// normalize's step 3 over acc[0:e]: |acc[d]| shifted left by sh (right when right), the
// sign kept; returns the sum of squares. ss only grows, and stays below 2**30 or this
// raises: every term is below 2**30 (a < 2**15, checked), so no partial sum wraps.
// Inlined with right a constant: a loop per direction, no test of it per element.
INLINE uint32_t scale(int32_t *acc, const int32_t *e, uint32_t sh, int right) {
    uint32_t ss = 0;
    for (int32_t *p = acc; p < e; p++) {
        int32_t v = *p;
        uint32_t s = (uint32_t)(v >> 31);  // 0 or all ones: |v| = (v + s) ^ s, and back
        uint32_t a = ((uint32_t)v + s) ^ s;
        a = right ? a >> sh : a << sh;
        *p = (int32_t)((a ^ s) - s);
        ss += a * a;
        if ((a >> 15) | (ss >> 30)) {  // only a header past the load checks gets here
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: norm_bits out of range"));
        }
    }
    return ss;
}

// normalize's step 5: out[d] = sign(v) * ((|v| << q) + half) // r for v = acc[d] over
// acc[0:e]; on armv6m from M = 2**31 // r (below)
INLINE void quotients(const int32_t *acc, const int32_t *e, int16_t *o, uint32_t M, uint32_t r, uint32_t half,
    uint32_t q) {
    (void)M;
    for (const int32_t *p = acc; p < e; p++) {
        int32_t v = *p;
        uint32_t a = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v, x = (a << q) + half;
        #if defined(__ARM_ARCH_6M__)
        uint32_t y = (a * M) >> (31 - q);
        y += x - y * r >= r;  // y <= x / r: no wrap
        #else
        uint32_t y = x / r;
        #endif
        *o++ = v < 0 ? -(int16_t)y : (int16_t)y;
    }
}

#if defined(__ARM_ARCH_6M__)
// quotients' loop for q = 14 (the format's out_shift), e - acc a positive even number and
// norm_bits <= 15, in Thumb-1 by hand, two elements a pass. The same quotients as quotients'
// C, q = floor(x / r) for x = (a << 14) + half, a = |v| ((v + s) ^ s, s = v >> 31), out =
// (q ^ s) - s stored as 16 bits as -(int16_t)q is, from P = a * M + H with H = half * M >> 14
// (normalize): P <= 2**31 + 2**16 (a <= r, so a * M <= 2**31), and P / 2**17 is below x / r by
// less than (a + 2) / 2**17 (a * (2**31 / r - M) < a, half * 2**17 / r - H < 2), never above.
// So y = P >> 17 is q or q - 1, and it is q wherever P's low 17 bits are below
// 2**17 - 2**norm_bits - 1 (then adding less than a + 2 <= 2**norm_bits + 1 cannot carry):
// the test is one compare of those bits, shifted to the top, with lim = that bound << 15. Only
// the rest (about 1 in 2**(16 - norm_bits)) takes the exact test y += x - y * r >= r (y <= q:
// no wrap). About 15.5 instructions per element where the exact test on every one took 18.
// acc r0, e ip, out r2, M r3, r r4, H r8, lim r9, half r10.
#define M2V_QUOT_EL(k, slow, join) \
    "ldmia r0!, {r7}\n" \
    "asrs r6, r7, #31\n" \
    "adds r7, r7, r6\n" \
    "eors r7, r6\n"  /* a */ \
    "movs r1, r7\n" \
    "muls r1, r3, r1\n" \
    "add r1, r8\n"  /* P */ \
    "lsls r5, r1, #15\n" \
    "cmp r5, r9\n" \
    "bcs " #slow "f\n" \
    "lsrs r1, r1, #17\n"  /* y = q */ \
    #join ":\n" \
    "eors r1, r6\n" \
    "subs r1, r1, r6\n" \
    "strh r1, [r2, #" #k "]\n"
#define M2V_QUOT_SLOW(slow, join) \
    #slow ":\n" \
    "lsrs r1, r1, #17\n"  /* y */ \
    "lsls r5, r7, #14\n" \
    "add r5, r10\n"  /* x */ \
    "movs r7, r1\n" \
    "muls r7, r4, r7\n" \
    "subs r5, r5, r7\n" \
    "cmp r5, r4\n" \
    "bcc 3f\n" \
    "adds r1, r1, #1\n" \
    "3:\n" \
    "b " #join "b\n"
static __attribute__((naked, noinline)) void quotients14_t1(const int32_t *acc, const int32_t *e, int16_t *o,
    uint32_t M, uint32_t r, uint32_t half, uint32_t H, uint32_t lim) {
    __asm__ volatile (
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n"
        "mov r5, r9\n"
        "mov r6, r10\n"
        "push {r4, r5, r6}\n"
        "ldr r4, [sp, #36]\n"  // half
        "mov r10, r4\n"
        "ldr r4, [sp, #40]\n"  // H
        "mov r8, r4\n"
        "ldr r4, [sp, #44]\n"  // lim
        "mov r9, r4\n"
        "ldr r4, [sp, #32]\n"  // r
        "mov ip, r1\n"
        "1:\n"
        M2V_QUOT_EL(0, 2, 4)
        M2V_QUOT_EL(2, 5, 6)
        "adds r2, r2, #4\n"
        "cmp r0, ip\n"
        "bne 1b\n"
        "pop {r4, r5, r6}\n"
        "mov r8, r4\n"
        "mov r9, r5\n"
        "mov r10, r6\n"
        "pop {r4, r5, r6, r7, pc}\n"
        M2V_QUOT_SLOW(2, 4)
        M2V_QUOT_SLOW(5, 6)
        ".syntax divided\n");
}
#undef M2V_QUOT_EL
#undef M2V_QUOT_SLOW
#endif

#if defined(__ARM_ARCH_6M__)
// scale's loop for acc < e in Thumb-1 by hand (gcc's takes 21 instructions per element, this
// 16): a = |v| ((v + s) ^ s, s = v >> 31), shifted left by sh (right when right is not 0),
// stored with its sign ((a ^ s) - s), ss += a * a; the same arithmetic as scale's C. Returns ss,
// or 0xFFFFFFFF where scale raises: ss reaching 2**30 (checked per element, so that no sum
// wraps) or an a of 2**15 or more (their OR, checked at the end: a larger a's square may wrap,
// which only the OR sees). acc r0, e r1, sh r5, ss r4, the OR r7.
// one element of scale_t1's loops, shifted by `shift` (lsls or lsrs): the two loops are the
// same code but for that instruction
#define M2V_SCALE_CHECKED(shift) \
    "ldr r2, [r0]\n" \
    "asrs r3, r2, #31\n" \
    "adds r2, r2, r3\n" \
    "eors r2, r3\n" \
    shift " r2, r5\n" \
    "orrs r7, r2\n" \
    "movs r6, r2\n" \
    "muls r6, r2, r6\n" \
    "adds r4, r4, r6\n" \
    "lsrs r6, r4, #30\n" \
    "bne 5f\n" \
    "eors r2, r3\n" \
    "subs r2, r2, r3\n" \
    "stmia r0!, {r2}\n"
static __attribute__((naked, noinline)) uint32_t scale_t1(int32_t *acc, const int32_t *e, uint32_t sh,
    int right) {
    __asm__ volatile (
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "movs r4, #0\n"
        "movs r7, #0\n"
        "movs r5, r2\n"
        "cmp r3, #0\n"
        "bne 3f\n"
        "1:\n"
        M2V_SCALE_CHECKED("lsls")
        "cmp r0, r1\n"
        "bne 1b\n"
        "b 4f\n"
        "3:\n"
        M2V_SCALE_CHECKED("lsrs")
        "cmp r0, r1\n"
        "bne 3b\n"
        "4:\n"
        "lsrs r7, r7, #15\n"
        "bne 5f\n"
        "movs r0, r4\n"
        "pop {r4, r5, r6, r7, pc}\n"
        "5:\n"
        "movs r0, #0\n"
        "mvns r0, r0\n"
        "pop {r4, r5, r6, r7, pc}\n"
        ".syntax divided\n");
}

#undef M2V_SCALE_CHECKED

// scale_t1 without its checks, for normalize to call where they cannot fire (safe below), on
// e - acc a positive even number: the same arithmetic and sums, the signed value squared in
// place of a (w * w = a * a), two elements a pass: 11.5 instructions per element. acc r0, e r1,
// sh r5, ss r4.
#define M2V_SCALE_EL(shift, k) \
    "ldr r2, [r0, #" #k "]\n" \
    "asrs r3, r2, #31\n" \
    "adds r2, r2, r3\n" \
    "eors r2, r3\n" \
    shift " r2, r5\n" \
    "eors r2, r3\n" \
    "subs r2, r2, r3\n" \
    "str r2, [r0, #" #k "]\n" \
    "muls r2, r2, r2\n" \
    "adds r4, r4, r2\n"
static __attribute__((naked, noinline)) uint32_t scale_safe_t1(int32_t *acc, const int32_t *e, uint32_t sh,
    int right) {
    __asm__ volatile (
        ".syntax unified\n"
        "push {r4, r5, r6, lr}\n"
        "movs r4, #0\n"
        "movs r5, r2\n"
        "cmp r3, #0\n"
        "bne 3f\n"
        "1:\n"
        M2V_SCALE_EL("lsls", 0) M2V_SCALE_EL("lsls", 4)
        "adds r0, r0, #8\n"
        "cmp r0, r1\n"
        "bne 1b\n"
        "b 4f\n"
        "3:\n"
        M2V_SCALE_EL("lsrs", 0) M2V_SCALE_EL("lsrs", 4)
        "adds r0, r0, #8\n"
        "cmp r0, r1\n"
        "bne 3b\n"
        "4:\n"
        "movs r0, r4\n"
        "pop {r4, r5, r6, pc}\n"
        ".syntax divided\n");
}
#undef M2V_SCALE_EL

// normalize's first pass for e - acc a positive multiple of 4, in Thumb-1 by hand: the OR
// of |acc[d]| ((v + s) ^ s, s = v >> 31, as the C loop), four words per ldmia, about 4.75
// instructions per element where gcc's loop takes 8.
static __attribute__((naked, noinline)) uint32_t or_abs_t1(const int32_t *acc, const int32_t *e) {
    __asm__ volatile (
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "movs r2, #0\n"
        "1:\n"
        "ldmia r0!, {r3, r4, r5, r6}\n"
        "asrs r7, r3, #31\n"
        "adds r3, r3, r7\n"
        "eors r3, r7\n"
        "orrs r2, r3\n"
        "asrs r7, r4, #31\n"
        "adds r4, r4, r7\n"
        "eors r4, r7\n"
        "orrs r2, r4\n"
        "asrs r7, r5, #31\n"
        "adds r5, r5, r7\n"
        "eors r5, r7\n"
        "orrs r2, r5\n"
        "asrs r7, r6, #31\n"
        "adds r6, r6, r7\n"
        "eors r6, r7\n"
        "orrs r2, r6\n"
        "cmp r0, r1\n"
        "bne 1b\n"
        "movs r0, r2\n"
        "pop {r4, r5, r6, r7, pc}\n"
        ".syntax divided\n");
}
#endif

// acc reduced to a unit vector in Q(q) in out (§6 steps 2-5), n <= the lengths of both
static void normalize(int32_t *acc, int16_t *out, mp_int_t n, mp_int_t norm_bits, mp_int_t q) {
    // the loader's bounds (0 < norm_bits < 16, out_shift <= 15) make norm_bits + q <= 30,
    // which the division below needs
    if (norm_bits < 1 || q < 0 || norm_bits + q > 30) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: normalisation arguments out of range"));
    }
    // Pointer loops, one pass each, with what they need in registers (gcc keeps indexed
    // loops' bookkeeping on the stack on armv6m: about 67 instructions per element then).
    // On cortex-m0 the three passes take about 4.75 + 11.5 + 15.5 instructions per element:
    // about 8,900 of an embed's instructions for 256 dimensions (make bench's ROMFS texts of
    // about 29 tokens: about 300 per token).
    int32_t *e = acc + n;
    // k needs only the bit length of max |acc[d]|, which is the bit length of their OR
    uint32_t m = 0;
    const int32_t *p = acc;
    #if defined(__ARM_ARCH_6M__)
    if (n >= 4) {
        p = acc + (n & ~(mp_int_t)3);
        m = or_abs_t1(acc, p);
    }
    #endif
    for (; p < e; p++) {
        int32_t v = *p;
        m |= v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
    }
    if (m == 0) {
        for (mp_int_t d = 0; d < n; d++) {
            out[d] = 0;
        }
        return;
    }
    mp_int_t k = norm_bits;
    for (uint32_t t = m; t; t >>= 1) {
        k--;
    }
    // now 2**(norm_bits-1) <= max|acc| * 2**k < 2**norm_bits, and the sum of squares < 2**30
    uint32_t ss = 0;
    #if defined(__ARM_ARCH_6M__)
    // every a < 2**norm_bits (k's choice: a <= max|acc| * 2**k), so where norm_bits <= 15 and
    // n * (2**norm_bits - 1)**2 < 2**30 no a reaches 2**15 and no partial sum of squares 2**30:
    // scale_t1's checks cannot fire (the default model: norm_bits 11, n 256, n * x = 1,072,693,504)
    uint32_t x = ((uint32_t)1 << (norm_bits & 15)) - 1;
    x *= x;
    if (!(n & 1) && norm_bits <= 15 && !((uint32_t)n >> (32 - 2 * norm_bits)) && (uint32_t)n * x < (uint32_t)1 << 30) {
        ss = k >= 0 ? scale_safe_t1(acc, e, (uint32_t)k, 0) : scale_safe_t1(acc, e, (uint32_t)-k, 1);
    } else {
        ss = k >= 0 ? scale_t1(acc, e, (uint32_t)k, 0) : scale_t1(acc, e, (uint32_t)-k, 1);  // acc < e: m > 0
    }
    if (ss >> 30) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: norm_bits out of range"));
    }
    #else
    if (k >= 0) {
        ss = scale(acc, e, (uint32_t)k, 0);
    } else {
        ss = scale(acc, e, (uint32_t)-k, 1);
    }
    #endif
    uint32_t r = isqrt(ss);  // >= 1: m > 0 leaves some |v[d]| >= 2**(norm_bits-1)
    if (ss - r * r > r) {
        r++;
    }
    uint32_t half = r >> 1;
    #if defined(__ARM_ARCH_6M__)
    // armv6m (the RP2040's Cortex-M0+) has no divide instruction and a native module links
    // no libgcc: one reciprocal per vector, then one multiply and a remainder test per
    // element (about 10 instructions instead of about 150 for a bitwise division). Every
    // a < 2**norm_bits <= 2 * r (r >= the largest a), so M = floor(2**31 / r) <=
    // 2**(32 - norm_bits) and a * M < 2**32; a * M >> (31 - q) is below (a << q) / r by
    // less than 2**(norm_bits + q - 31) <= 1/2, so below the rounded quotient by at most 1.
    uint32_t M = udiv32((uint32_t)1 << 31, r);
    if (q == 14 && norm_bits <= 15) {  // the format's out_shift: quotients14_t1 on pairs, then an odd last element
        const int32_t *h = acc + (n & ~(mp_int_t)1);
        if (h > acc) {
            // half * M <= 2**30 (half <= r / 2); lim: quotients14_t1's bound on P's low 17 bits
            quotients14_t1(acc, h, out, M, r, half, (half * M) >> 14,
                (((uint32_t)1 << 17) - ((uint32_t)1 << norm_bits) - 1) << 15);
        }
        quotients(h, e, out + (h - acc), M, r, half, 14);
    } else {
        quotients(acc, e, out, M, r, half, (uint32_t)q);
    }
    #else
    quotients(acc, e, out, 0, r, half, (uint32_t)q);
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
    if (n < 0 || (size_t)n > nacc / 4 || (size_t)n > nout / 2) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: normalisation arguments out of range"));
    }
    normalize(acc, out, n, mp_obj_get_int(args[3]), mp_obj_get_int(args[4]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(normalize_into_obj, 5, 5, normalize_into);

// scan_rows(buf, off, n, d, q, bias, thr, full, base, cs, ci): the scan of int8 rows of an index
// or a classifier (docs/FORMAT.md, index §4 and classifier §4), bit-identical to m2v/_rows.py's
// _scan_py: rows e < n of d int8 values and a u16 multiplier m from byte off of buf; score =
// bias + floor(dot(q, row) * m / 2**15), split as (dot >> 15) * m + ((dot & 0x7FFF) * m >> 15)
// so that no product reaches 2**31 (|dot| <= 127 * sum |q| < 2**30: _rows.query_into's bound);
// (score, base + e) goes to cs, ci (array("i")) when full is 0 or score > thr. Returns how many.
static mp_obj_t scan_rows(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t nb, nq, ncs, nci;
    const uint8_t *buf = buffer(args[0], &nb, MP_BUFFER_READ);
    mp_int_t off = mp_obj_get_int(args[1]), n = mp_obj_get_int(args[2]), d = mp_obj_get_int(args[3]);
    const int16_t *q = buffer(args[4], &nq, MP_BUFFER_READ);
    mp_int_t bias = mp_obj_get_int(args[5]), thr = mp_obj_get_int(args[6]), full = mp_obj_get_int(args[7]);
    mp_int_t base = mp_obj_get_int(args[8]);
    int32_t *cs = buffer(args[9], &ncs, MP_BUFFER_RW), *ci = buffer(args[10], &nci, MP_BUFFER_RW);
    size_t rs = (size_t)d + 2;
    if (off < 0 || n < 0 || d < 0 || (size_t)d > nq / 2 || (size_t)n > ncs / 4 || (size_t)n > nci / 4
        || (size_t)off > nb || (size_t)n > udiv32((uint32_t)(nb - (size_t)off), (uint32_t)rs)) {
        mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("row scan arguments out of range"));  // as _scan_py's reads
    }
    mp_int_t nc = 0;
    const uint8_t *p = buf + off;
    for (mp_int_t e = 0; e < n; e++, p += rs) {
        int32_t acc = 0;
        const int8_t *v = (const int8_t *)p;
        for (mp_int_t j = 0; j < d; j++) {
            acc += (int32_t)q[j] * v[j];
        }
        int32_t m = (int32_t)(p[d] | (p[d + 1] << 8));
        mp_int_t s = bias + (acc >> 15) * m + (((acc & 0x7FFF) * m) >> 15);
        if (full == 0 || s > thr) {
            cs[nc] = (int32_t)s;
            ci[nc] = (int32_t)(base + e);
            nc++;
        }
    }
    return MP_OBJ_NEW_SMALL_INT(nc);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(scan_rows_obj, 11, 11, scan_rows);

// ---- The tokenizer (docs/FORMAT.md §3, §5): the C twin of m2v/_tok_py.py's scan, flush,
// find_run and field, with the same arguments: T, the list of tables and scratch buffers,
// and c, the array("i") of parameters and state, laid out as m2v/_tok_py.py defines them
// (layout.h, generated from it by scripts/gen_layout.py). Every
// table read is checked against its buffer's length: a damaged model raises IndexError
// (m2v.model turns it into ValueError), never reads past a buffer.
#include "layout.h"

// A table of the tokenizer: a buffer in RAM (p), or a section of the model's file read
// through the page cache (p NULL, at file offset off: file mode with the table not in RAM).
// Either way P[i] is its byte i for lo <= i < hi: the whole of a buffer, the part of a file
// section that one page of the cache holds (span()), so that a read costs one compare
// either way and the word-at-a-time loops run within [lo, hi).
// A file section may hold its first nhead bytes in RAM (head: m2v/_load.py gives NODES the
// top of the trie, the pages every word walks through), read there without the cache.
typedef struct {
    const uint8_t *p, *P, *head;
    size_t n, lo, hi, nhead;
    uint32_t off;
} tab_t;


// pool_t for file mode (dims and the layout set): the cache of T (T[CACHE], T[TAGS],
// T[PAGE], c[C_SM]), the records' offset and size (c[C_ORC], c[C_NREC]), the file f, the
// row buffer, ncen centroid rows at file offset ocen. from: the same cache as the tokenizer
// found it (embed_run: its fields copied, not looked up again), or NULL.
static void pool_file(pool_t *p, mp_obj_t T, const int32_t *cc, mp_obj_t f, mp_obj_t row, mp_int_t ocen,
    mp_int_t ncen, const pc_t *from) {
    size_t n, nr;
    p->cen = NULL;
    p->rec = NULL;
    if (from) {
        pc_t *pc = &p->pc;  // field by field: a struct copy may be a memcpy, which a native module lacks
        pc->pages = from->pages, pc->tags = from->tags, pc->sm = from->sm, pc->m = from->m, pc->wsh = from->wsh;
        pc->page = from->page, pc->pagebuf = from->pagebuf;
        pc->misses = 0;
        pc->seek[0] = from->seek[0], pc->seek[1] = from->seek[1];
        pc->readinto[0] = from->readinto[0], pc->readinto[1] = from->readinto[1];
        pc->file = from->file, pc->sp = from->sp;
    } else {
        pc_init(&p->pc, T, cc, f);
    }
    p->rowobj = row;
    p->row = buffer(row, &nr, MP_BUFFER_RW);
    if (cc[C_ORC] < 0 || cc[C_NREC] < 0 || ocen < 0 || ncen < 0 || nr != p->dims
        || (size_t)ocen + (size_t)ncen * p->dims >= (size_t)1 << 30 || (size_t)cc[C_ORC] + cc[C_NREC] >= (size_t)1 << 30) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: file-mode pooling arguments out of range"));
    }
    p->orc = (uint32_t)cc[C_ORC];
    p->nrec = (size_t)cc[C_NREC];
    p->ocen = (uint32_t)ocen;
    p->ncen = (size_t)ncen * p->dims;
    p->rrows = NULL;
    mp_obj_t rc = item(T, T_RCACHE);
    if (rc != mp_const_none) {
        int32_t nrc = cc[C_NRC];
        p->rtags = buffer(rc, &n, MP_BUFFER_RW);
        if (nrc < 1 || (nrc & (nrc - 1)) || (size_t)nrc * (4 + p->dims) > n) {
            mp_raise_ValueError(MP_ERROR_TEXT("row cache too short"));
        }
        p->rrows = (int8_t *)(p->rtags + nrc);
        p->rmask = (uint32_t)nrc - 1;
    }
}

static void pc_init(pc_t *pc, mp_obj_t T, const int32_t *cc, mp_obj_t f) {
    size_t n, nt, np;
    pc->pages = buffer(item(T, T_CACHE), &n, MP_BUFFER_RW);
    pc->tags = buffer(item(T, T_TAGS), &nt, MP_BUFFER_RW);
    pc->page = item(T, T_PAGE);
    pc->pagebuf = buffer(pc->page, &np, MP_BUFFER_RW);
    // slots - 1 and the ways: one, or WAYS with each set's word after the tags
    int32_t sm = cc[C_SM], wsh = cc[C_WSH];
    if (sm < 0 || (sm & (sm + 1)) || ((size_t)sm + 1) << PS > n || (wsh != 0 && wsh != 2) || sm < (1 << wsh) - 1
        || ((size_t)sm + 1 + (wsh ? ((size_t)sm + 1) >> wsh : 0)) * 4 > nt || np != 1 << PS) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: file-mode pooling arguments out of range"));
    }
    pc->sm = (uint32_t)sm;
    pc->wsh = (uint32_t)wsh;
    pc->m = (uint32_t)sm >> wsh;
    pc->misses = 0;
    // a built-in binary stream is read through its protocol; anything else (a class
    // defined in Python, such as a wrapper that counts reads) through its methods, looked
    // up only then (two lookups: about 600 instructions a call on cortex-m0)
    pc->file = f;
    pc->sp = NULL;
    const mp_obj_type_t *t = mp_obj_get_type(f);
    if (!(t->flags & MP_TYPE_FLAG_INSTANCE_TYPE) && MP_OBJ_TYPE_HAS_SLOT(t, protocol)) {
        const mp_stream_p_t *sp = MP_OBJ_TYPE_GET_SLOT(t, protocol);
        if (sp->read && sp->ioctl && !sp->is_text) {
            pc->sp = sp;
        }
    }
    if (!pc->sp) {
        mp_load_method(f, MP_QSTR_seek, pc->seek);
        mp_load_method(f, MP_QSTR_readinto, pc->readinto);
    } else {
        pc->seek[0] = pc->seek[1] = pc->readinto[0] = pc->readinto[1] = MP_OBJ_NULL;
    }
}

// acc_recs_f(T, c, acc, f, row, cen, n, wcodes, ib, mb, wb, dims, ncen): acc_recs for file
// mode (Model.token's sums, in batches): the records of out[0:n] (T[OUT]) through the page
// cache, each centroid row read into row from offset cen + row * dims of f.
static mp_obj_t acc_recs_f(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    pool_t p;
    size_t nc, nacc, nwc, nout;
    const int32_t *cc = buffer(args[1], &nc, MP_BUFFER_READ);
    if (nc < 4 * C_LEN) {
        mp_raise_ValueError(MP_ERROR_TEXT("tokenizer state too short"));
    }
    p.acc = buffer(args[2], &nacc, MP_BUFFER_RW);
    mp_int_t n = mp_obj_get_int(args[6]);
    p.wcodes = buffer(args[7], &nwc, MP_BUFFER_READ);
    mp_int_t ib = mp_obj_get_int(args[8]), mb = mp_obj_get_int(args[9]), wb = mp_obj_get_int(args[10]);
    mp_int_t dims = mp_obj_get_int(args[11]), rb = cc[C_RB];
    const int32_t *out = buffer(item(args[0], T_OUT), &nout, MP_BUFFER_READ);
    if (n < 0 || (size_t)n > nout / 4 || dims < 0 || rb < 0 || ib < 0 || ib > 32 || mb < 0 || wb < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
    p.rb = rb, p.ib = ib, p.mb = mb, p.wb = wb, p.dims = dims, p.fresh = 0;
    pool_file(&p, args[0], cc, args[3], args[4], mp_obj_get_int(args[5]), mp_obj_get_int(args[12]), NULL);
    pool_check(&p, nacc, nwc);
    pool_recs(&p, out, (size_t)n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(acc_recs_f_obj, 13, 13, acc_recs_f);

typedef struct {
    int32_t *c;
    tab_t asc, symmap, nodes, hk, hr, gst, tr, first, runs, word, pool, added;
    pc_t pc;  // file mode: the page cache the file sections among the tables are read through
    int paged;  // whether one is
    int32_t *out;
    size_t nout;  // entries in out
    // the RAM tables of T[ACCEL] (build_accel), or NULL
    const uint16_t *groups, *gfine, *tfine, *hfine, *ridx, *roots;
    size_t ng;  // entries in groups
    size_t nfine;  // entries in gfine (none: NULL)
    int gf;  // its shift
    int fast;  // NODES and HASKIDS (word-aligned) in RAM and the RAM tables with GFINE: child_ram()
} tk_t;

static NORETURN void out_of_range(void) {
    mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("m2v table index out of range"));
}

// T[k], a buffer (filled in place: a struct this size returned by value costs a memcpy,
// which a native module has no libc for)
static void table(tab_t *t, mp_obj_t T, int k) {
    t->p = t->P = buffer(item(T, k), &t->n, MP_BUFFER_READ);
    t->lo = 0, t->hi = t->n, t->off = 0;
    t->head = NULL, t->nhead = 0;
}

// A file section's paged spans are dropped when the cache reads a page: the slot they
// point into may now hold another page.
INLINE void drop1(tab_t *t) {
    if (!t->p) {
        t->lo = t->hi = 0;
    }
}

static void tk_drop(tk_t *tk) {  // (no array of them: rv32imc's gcc would copy it with memcpy)
    drop1(&tk->nodes);
    drop1(&tk->hk);
    drop1(&tk->hr);
    drop1(&tk->gst);
    drop1(&tk->tr);
    drop1(&tk->runs);
    drop1(&tk->pool);
    drop1(&tk->added);
}

// t's span: the page pg holding its byte at file offset a (the page's first byte is the
// section's byte b: negative where the page starts before it)
INLINE void span_set(tab_t *t, const uint8_t *pg, uint32_t a) {
    intptr_t b = (intptr_t)(a & ~(uint32_t)((1 << PS) - 1)) - (intptr_t)t->off, e = b + (1 << PS);
    t->P = (const uint8_t *)((uintptr_t)pg - (uintptr_t)b);
    t->lo = b < 0 ? 0 : (size_t)b;
    t->hi = (size_t)e > t->n ? t->n : (size_t)e;
}

// span's miss: the page read into the cache, every table's span dropped (its slot held
// another page), then t's set; apart, and called last, so that span itself keeps no frame
static __attribute__((noinline)) void span_miss(tk_t *tk, tab_t *t, uint32_t a) {
    const uint8_t *pg = pc_fill(&tk->pc, a >> PS);
    tk_drop(tk);
    span_set(t, pg, a);
}

// Make t->P[i] valid: the page of a file section holding byte i, through the cache. A
// buffer holds all its bytes already: i is past its end (IndexError), as is i >= n here.
static void span(tk_t *tk, tab_t *t, size_t i) {
    if (t->p || i >= t->n) {
        out_of_range();
    }
    if (i < t->nhead) {
        t->P = t->head;
        t->lo = 0;
        t->hi = t->nhead;
        return;
    }
    // a page in one of its set's slots is taken there without a call (pc_page's look, written
    // out again: about 15 instructions less a span on cortex-m0, where one look for both, an
    // inlined function returning the slot or -1, took 20-25 more per non-ASCII token)
    uint32_t a = t->off + (uint32_t)i, q = a >> PS, sl = q & tk->pc.m, n = tk->pc.m + 1;
    const int32_t *tg = tk->pc.tags;
    if ((uint32_t)tg[sl] == q
        || (tk->pc.wsh && ((uint32_t)tg[sl += n] == q || (uint32_t)tg[sl += n] == q || (uint32_t)tg[sl += n] == q))) {
        span_set(t, tk->pc.pages + (sl << PS), a);
    } else {
        span_miss(tk, t, a);
    }
}

// t's byte i, or IndexError past the end (i is unsigned: a negative index is past the end too)
INLINE uint32_t at(tk_t *tk, tab_t *t, size_t i) {
    if (i - t->lo >= t->hi - t->lo) {
        span(tk, t, i);
    }
    return t->P[i];
}

// T[k] as a table: a buffer, or a file section (m2v/model.py FileSection: its off and size,
// looked up on the first call and kept in c[C_SEC + 2 * j]: a model's tables stay what they
// are for its life)
static void tab_init(tk_t *tk, tab_t *t, mp_obj_t T, int k, int j) {
    int32_t *sec = tk->c + C_SEC + 2 * j;
    mp_obj_t o = item(T, k);
    mp_buffer_info_t bi;
    if (sec[1] <= 0 && mp_get_buffer(o, &bi, MP_BUFFER_READ)) {
        t->p = t->P = bi.buf;
        t->n = t->hi = bi.len;
        t->lo = t->off = 0;
        t->head = NULL, t->nhead = 0;
        sec[1] = -1;
        return;
    }
    if (!tk->paged) {
        pc_init(&tk->pc, T, tk->c, item(T, T_FILE));
        tk->paged = 1;
    }
    mp_int_t off, n;
    if (sec[1] > 0) {  // checked when it was stored
        off = sec[0], n = sec[1] - 1;
    } else {
        off = mp_obj_get_int(mp_load_attr(o, MP_QSTR_off)), n = mp_obj_get_int(mp_load_attr(o, MP_QSTR_size));
        if (off < 0 || n < 0 || off >= (mp_int_t)1 << 30 || n >= (mp_int_t)1 << 30) {
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: tokenizer parameters out of range"));
        }
        sec[0] = (int32_t)off, sec[1] = (int32_t)n + 1;
    }
    t->p = t->P = NULL;
    t->n = (size_t)n;
    t->lo = t->hi = 0;
    t->off = (uint32_t)off;
    t->head = NULL, t->nhead = 0;
    if (k == T_NODES) {  // its head in RAM, if any (m2v/_load.py sets the attribute, None or a buffer)
        mp_obj_t h[2];
        mp_load_method_maybe(o, MP_QSTR_head, h);
        if (h[0] != MP_OBJ_NULL && h[0] != mp_const_none) {
            size_t nh;
            t->head = buffer(h[0], &nh, MP_BUFFER_READ);
            t->nhead = nh < t->n ? nh : t->n;
        }
    }
}

static uint32_t sample(tk_t *tk, tab_t *t, uint32_t k, int32_t sb);
static uint32_t pop_tab(tk_t *tk, tab_t *t, size_t a, size_t b);
static uint32_t flags_tab(tk_t *tk, tab_t *t, size_t a, size_t b, int bit);
static uint32_t run_start(tk_t *tk, size_t o);
static int32_t child(tk_t *tk, int32_t node, uint32_t s);

// The native core's RAM tables, T[ACCEL]: a buffer of 16-bit entries that m2v/_spend.py sizes (what the heap
// spares) and that the first call fills from the trie and the normaliser's runs. They refine the format's
// samples (docs/FORMAT.md §3, §4), whose spacing the 720,000-byte budget sets. In order:
//   a header of ACC_HEAD entries: E, the exact group starts; gf, the fine samples' shift (0: none);
//     their count;
//   GROUPS[g], g < E: the first node of child group g (the first groups are the largest, where
//     skips between samples would be longest);
//   GFINE[k]: the first node of group k << gf, for every group (GSTART samples one in 2**g_shift:
//     64 in the default model, where a non-ASCII word's deep groups were a skip of 16 groups
//     on average; 16 with 4,096 entries, skips of 4);
//   TFINE[k]: the terminal nodes before node k << TF (TRANK: one per 2**t_shift nodes);
//   HFINE[k]: the set HASKIDS bits before node k << HF (HRANK: one per 2**h_shift nodes);
//   RIDX[p], p < NRIDX: the NORM_RUNS entry holding code point p << RS, so that a lookup
//     bisects the few runs of one 128-code-point page, not all of them (11 steps in the
//     default model's 1,432 runs);
//   ROOTS[r * 64 + s]: the child of root r with symbol s (0xFFFF: none), every token's first
//     step, in the two largest groups (39 and 37 nodes in the default model).
// The default model's shifts are 6, 8 and 8. The fixed part (all but GROUPS and GFINE) is
// (n_nodes >> TF) + (n_nodes >> HF) + 2 + NRIDX + NROOTS + ACC_HEAD entries (m2v/_spend.py's base).
// Entries are 16-bit: a trie of more than 65,535 nodes or more than 65,535 runs gets no
// tables (C_NG = -1).
#define TF 5
#define HF 6
#define RS 7
#define NRIDX 512
#define NROOTS 128
#define ACC_HEAD 3
#define EXACT 1024  // exact group starts at least, where there are fine samples

static void build_accel(tk_t *tk, uint16_t *a, size_t n) {
    int32_t *cc = tk->c;
    tab_t *nd = &tk->nodes;
    size_t nn = nd->n, ntf = (nn >> TF) + 1, nhf = (nn >> HF) + 1, nruns = (size_t)cc[C_NRUNS];
    cc[C_NG] = -1;
    if (nn > 65535 || n < ntf + nhf + NRIDX + NROOTS + ACC_HEAD + 2 || tk->hk.n < (nn + 7) >> 3 || nruns > 65535
        || nruns < 1 || nruns * 6 > tk->runs.n) {
        return;
    }
    size_t G = n - ntf - nhf - NRIDX - NROOTS - ACC_HEAD;
    uint16_t *gr = a + ACC_HEAD, *tf = gr + G, *hf = tf + ntf, *ri = hf + nhf, *ro = ri + NRIDX;
    // the roots' children first (child() without the RAM tables: tk's are not set yet)
    for (uint32_t k = 0; k < NROOTS; k++) {
        int32_t c = child(tk, (int32_t)(k >> 6), k & 63);
        ro[k] = c < 0 ? 0xFFFF : (uint16_t)c;
    }
    uint32_t r = 0;
    for (size_t k = 0; k < ntf; k++) {
        tf[k] = (uint16_t)r;
        size_t e = (k + 1) << TF;
        r += flags_tab(tk, nd, k << TF, e < nn ? e : nn, 6);
    }
    r = 0;
    for (size_t k = 0; k < nhf; k++) {
        hf[k] = (uint16_t)r;
        size_t e = (k + 1) << (HF - 3);
        r += pop_tab(tk, &tk->hk, k << (HF - 3), e < tk->hk.n ? e : tk->hk.n);
    }
    // r: the groups. The finest samples of every group (one more for the end) that fit
    // next to EXACT exact starts at least, then the exact starts in the rest
    size_t E = G < EXACT ? G : EXACT, F = G - E, gf = 1, nf = 0;
    while (gf < 16 && (r >> gf) + 2 > F) {
        gf++;
    }
    if (gf >= (size_t)cc[C_GS]) {  // no finer than GSTART: none
        gf = 0;
    } else {
        F = (r >> gf) + 2;
        E = G - F;
    }
    uint16_t *fine = gr + E;
    size_t j = sample(tk, &tk->gst, 0, cc[C_SB]), g = 0, e = 0;
    uint32_t fm = gf ? ((uint32_t)1 << gf) - 1 : 0;
    while (j < nn && (g < E || gf)) {
        if (g < E) {
            gr[e++] = (uint16_t)j;
        }
        if (gf && !(g & fm) && nf < F) {
            fine[nf++] = (uint16_t)j;
        }
        g++;
        while (j < nn && !(at(tk, nd, j++) & 0x80)) {
        }
    }
    if (j == nn) {  // the end of the last group
        if (e < E) {
            gr[e++] = (uint16_t)j;
        }
        if (gf && !(g & fm) && nf < F) {
            fine[nf++] = (uint16_t)j;
        }
    }
    // the run of each page's first code point, in one pass over the runs
    size_t k = 0;
    for (size_t p = 0; p < NRIDX; p++) {
        uint32_t cp = (uint32_t)p << RS;
        while (k + 1 < nruns && run_start(tk, (k + 1) * 6) <= cp) {
            k++;
        }
        ri[p] = (uint16_t)k;
    }
    a[0] = (uint16_t)e, a[1] = (uint16_t)gf, a[2] = (uint16_t)nf;
    cc[C_NG] = (int32_t)e;
}

static void tk_init(tk_t *tk, mp_obj_t T, mp_obj_t c) {
    size_t n;
    tk->c = buffer(c, &n, MP_BUFFER_RW);
    if (n < 4 * C_LEN) {
        mp_raise_ValueError(MP_ERROR_TEXT("tokenizer state too short"));
    }
    // the small tables and the scratch buffers are buffers; the trie and the normaliser's
    // runs may be file sections (file mode, the tables not in RAM)
    table(&tk->asc, T, T_ASCII);
    table(&tk->symmap, T, T_SYMMAP);
    table(&tk->first, T, T_FIRST);
    table(&tk->word, T, T_WORD);
    tk->paged = 0;
    tab_init(tk, &tk->nodes, T, T_NODES, 0);
    tab_init(tk, &tk->hk, T, T_HASKIDS, 1);
    tab_init(tk, &tk->hr, T, T_HRANK, 2);
    tab_init(tk, &tk->gst, T, T_GSTART, 3);
    tab_init(tk, &tk->tr, T, T_TRANK, 4);
    tab_init(tk, &tk->runs, T, T_RUNS, 5);
    tab_init(tk, &tk->pool, T, T_POOL, 6);
    tab_init(tk, &tk->added, T, T_ADDED, 7);
    tk->out = buffer(item(T, T_OUT), &n, MP_BUFFER_RW);
    tk->nout = n / 4;
    int32_t *cc = tk->c;

    // the parameters the loops trust as shifts: out of range only in a damaged model
    if ((uint32_t)(cc[C_HS] - 3) > 21 || (uint32_t)cc[C_GS] > 24 || (uint32_t)cc[C_TS] > 24
        || (cc[C_SB] != 2 && cc[C_SB] != 4) || tk->asc.n < 128 || tk->first.n < 256 || tk->symmap.n < 256) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: tokenizer parameters out of range"));
    }
    // T[ACCEL]: the RAM tables, filled on the first call (None: the package gave none)
    tk->groups = tk->gfine = tk->tfine = tk->hfine = tk->ridx = tk->roots = NULL;
    tk->ng = tk->nfine = 0;
    tk->gf = tk->fast = 0;
    mp_obj_t a = item(T, T_ACCEL);
    if (a != mp_const_none) {
        mp_buffer_info_t bi;
        mp_get_buffer_raise(a, &bi, MP_BUFFER_RW);
        size_t na = bi.len / 2, nn = tk->nodes.n;
        uint16_t *h = bi.buf;
        if ((uintptr_t)h & 1) {  // a bytearray (m2v/_spend.py: no temporary copy) or array("H")
            mp_raise_ValueError(MP_ERROR_TEXT("tokenizer tables: an aligned buffer expected"));
        }
        if (cc[C_NG] == 0) {
            build_accel(tk, h, na);
        }
        if (cc[C_NG] > 0) {
            size_t ntf = (nn >> TF) + 1, nhf = (nn >> HF) + 1, fixed = ntf + nhf + NRIDX + NROOTS + ACC_HEAD;
            if (na < fixed || h[0] != (size_t)cc[C_NG] || (size_t)h[0] + h[2] > na - fixed || h[1] >= 16) {
                mp_raise_ValueError(MP_ERROR_TEXT("tokenizer state too short"));
            }
            tk->groups = h + ACC_HEAD;
            tk->ng = h[0];
            if (h[1] && h[2]) {
                tk->gfine = tk->groups + tk->ng;
                tk->gf = h[1];
                tk->nfine = h[2];
            }
            tk->tfine = h + (na - fixed) + ACC_HEAD;
            tk->hfine = tk->tfine + ntf;
            tk->ridx = tk->hfine + nhf;
            tk->roots = tk->ridx + NRIDX;
            tk->fast = tk->gfine && tk->nodes.p && tk->hk.p && !((uintptr_t)tk->hk.p & 3);
        }
    }
}

// sample k of a rank/select table of sb-byte little-endian entries (an entry never
// straddles two pages: the sections start at multiples of 4)
static uint32_t sample(tk_t *tk, tab_t *t, uint32_t k, int32_t sb) {
    if (sb == 2) {
        size_t i = (size_t)k << 1;
        if (i >> 1 != k) {
            out_of_range();
        }
        uint32_t v = at(tk, t, i);
        return v | (at(tk, t, i + 1) << 8);
    }
    size_t i = (size_t)k << 2;
    if (i >> 2 != k) {
        out_of_range();
    }
    uint32_t v = at(tk, t, i);
    v |= at(tk, t, i + 1) << 8;
    v |= at(tk, t, i + 2) << 16;
    return v | (at(tk, t, i + 3) << 24);
}

// The trie's scans go four bytes at a time over aligned words (Cortex-M0 faults on an
// unaligned load): the counts a rank or select needs are per-byte flag bits, summed in
// the word's byte lanes and added up by one multiply. With the format's samples alone
// (docs/FORMAT.md §4) a token of make bench's real texts cost about 520 node steps of group
// skipping, 65 of terminal rank and 20 bytes of HASKIDS rank: word steps divide them by 4,
// and the RAM tables (build_accel) bound them: a skip of at most 8 groups (GFINE), a terminal
// rank over at most 16 nodes (TFINE), a HASKIDS rank over two words (HFINE).

INLINE uint32_t lanes(uint32_t x) {  // the sum of the four byte lanes of x (each < 64)
    return (x * 0x01010101u) >> 24;
}

INLINE uint32_t pop32(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return lanes((x + (x >> 4)) & 0x0F0F0F0Fu);
}

INLINE int aligned(const uint8_t *p) {
    return ((uintptr_t)p & 3) == 0;
}

// set bits of p[a:b] (the caller has bounds-checked b)
static uint32_t pop_range(const uint8_t *p, size_t a, size_t b) {
    uint32_t n = 0;
    for (; a < b && !aligned(p + a); a++) {
        n += pop32(p[a]);
    }
    for (; a + 4 <= b; a += 4) {
        n += pop32(*(const word_t *)(p + a));
    }
    for (; a < b; a++) {
        n += pop32(p[a]);
    }
    return n;
}

// nodes in p[a:b] with bit `bit` set (the caller has bounds-checked b)
static uint32_t flags_range(const uint8_t *p, size_t a, size_t b, int bit) {
    uint32_t n = 0;
    for (; a < b && !aligned(p + a); a++) {
        n += (p[a] >> bit) & 1;
    }
    for (; a + 4 <= b; a += 4) {
        n += lanes((*(const word_t *)(p + a) >> bit) & 0x01010101u);
    }
    for (; a < b; a++) {
        n += (p[a] >> bit) & 1;
    }
    return n;
}

// set bits of t[a:b] and nodes of t[a:b] with bit `bit` set, a span at a time (past the
// end: IndexError)
static uint32_t pop_tab(tk_t *tk, tab_t *t, size_t a, size_t b) {
    uint32_t n = 0;
    while (a < b) {
        if (a - t->lo >= t->hi - t->lo) {
            span(tk, t, a);
        }
        size_t e = b < t->hi ? b : t->hi;
        n += pop_range(t->P, a, e);
        a = e;
    }
    return n;
}

static uint32_t flags_tab(tk_t *tk, tab_t *t, size_t a, size_t b, int bit) {
    uint32_t n = 0;
    while (a < b) {
        if (a - t->lo >= t->hi - t->lo) {
            span(tk, t, a);
        }
        size_t e = b < t->hi ? b : t->hi;
        n += flags_range(t->P, a, e, bit);
        a = e;
    }
    return n;
}

// GSTART's sample k (k < its entries: the caller checked), directly when it is in RAM
INLINE uint32_t gsample(tk_t *tk, uint32_t k, int32_t sb) {
    const uint8_t *p = tk->gst.p;
    if (!p) {
        return sample(tk, &tk->gst, k, sb);
    }
    if (sb == 2) {
        p += (size_t)k << 1;
        return p[0] | (p[1] << 8);
    }
    p += (size_t)k << 2;
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

// the flags of bit 7 (a group's last node) in the 8 nodes P[j:j+8] (aligned), in the byte lanes
#define ENDS8(P, j) ((((*(const word_t *)((P) + (j)) >> 7) & 0x01010101u) + ((*(const word_t *)((P) + (j) + 4) >> 7) & 0x01010101u)))
#define ENDS4(P, j) ((*(const word_t *)((P) + (j)) >> 7) & 0x01010101u)

// HASKIDS's rank before node through HRANK's samples (HFINE's where the RAM tables are
// there), or -1 when node has no children: child()'s general case (no RAM tables, or
// the block of HASKIDS that child() reads as two words not in one page)
static __attribute__((noinline)) int32_t rank_hk(tk_t *tk, uint32_t un) {
    const int32_t *cc = tk->c;
    tab_t *hk = &tk->hk;
    int32_t sb = cc[C_SB];
    size_t nn = tk->nodes.n;
    uint32_t g, hbyte = at(tk, hk, un >> 3);
    if (!((hbyte >> (un & 7)) & 1)) {
        return -1;
    }
    // from the nearer sample: the one after node less the bits in [node, sample), or the
    // one before it plus the bits in [sample, node)
    int32_t hs = tk->hfine ? HF : cc[C_HS];
    uint32_t q = un >> hs, e = un >> 3;
    if ((un & ((uint32_t)1 << (hs - 1))) && (size_t)(q + 1) << hs < nn) {
        q++;
        g = tk->hfine ? tk->hfine[q] : sample(tk, &tk->hr, q, sb);
        size_t j = (size_t)q << (hs - 3);
        if (j > hk->n) {
            out_of_range();
        }
        g -= pop_tab(tk, hk, e + 1, j) + pop32(hbyte >> (un & 7));
    } else {
        g = tk->hfine ? tk->hfine[q] : sample(tk, &tk->hr, q, sb);
        g += pop_tab(tk, hk, (size_t)q << (hs - 3), e) + pop32(hbyte & (((uint32_t)1 << (un & 7)) - 1));
    }
    return (int32_t)g;  // (at most n_nodes: a section or a buffer far below 2**31 bytes)
}

// child(node, s): the child of node with symbol s, or -1 (_tok_py._child_py). NODES read
// through its span as locals (P, lo, hi: refreshed after each span(); a buffer's span is all of
// it), the skips over group ends sixteen or four nodes at a time within a span (four words or
// one: their flags summed in the byte lanes before the multiply); in file mode
// with the default budget (no room for GFINE: GSTART's samples, one in 64 groups) a skip
// crosses up to 32 groups. child_ram() is its twin for the trie in RAM with every RAM table.
static int32_t child(tk_t *tk, int32_t node, uint32_t s) {
    uint32_t un = (uint32_t)node, g;
    tab_t *hk = &tk->hk, *nd = &tk->nodes;
    if (un < 2 && s < 64 && tk->roots) {  // a root: ROOTS
        uint32_t r = tk->roots[(un << 6) | s];
        return r == 0xFFFF ? -1 : (int32_t)r;
    }
    // HASKIDS's rank: HFINE's sample and the 64 bits from it as two words, read in RAM or in
    // the block's page (about 40 instructions on cortex-m0, where a rank from the nearer sample
    // through pop_tab took about 85)
    uint32_t q = un >> HF, b = un & 63;
    size_t hb = (size_t)q << (HF - 3);
    const uint8_t *w = NULL;
    if (tk->hfine && hb + 8 <= hk->n) {
        if (hb - hk->lo >= hk->hi - hk->lo) {
            span(tk, hk, hb);
        }
        if (hk->hi - hb >= 8 && aligned(hk->P + hb)) {  // (not across two pages)
            w = hk->P + hb;
        }
    }
    if (w) {
        uint32_t x = *(const word_t *)w;
        g = tk->hfine[q];
        if (b >= 32) {
            g += pop32(x);
            x = *(const word_t *)(w + 4);
            b -= 32;
        }
        if (!((x >> b) & 1)) {
            return -1;
        }
        g += pop32(x & (((uint32_t)1 << b) - 1));
    } else {
        int32_t r = rank_hk(tk, un);
        if (r < 0) {
            return -1;
        }
        g = (uint32_t)r;
    }
    const uint8_t *P = nd->P;
    size_t lo = nd->lo, hi = nd->hi, j;
    #define NDSPAN(i) do { \
        if ((i) - lo >= hi - lo) { \
            span(tk, nd, (i)); \
            P = nd->P, lo = nd->lo, hi = nd->hi; \
        } \
} while (0)
    if (g + 1 < tk->ng) {  // GROUPS: bisection over the group's symbols, the last few scanned
        size_t a = tk->groups[g], e = tk->groups[g + 1];
        while (e - a > 4) {
            size_t mid = (a + e) >> 1;
            NDSPAN(mid);
            if ((P[mid] & 63) < s) {
                a = mid + 1;
            } else {
                e = mid;
            }
        }
        j = a;
    } else {
        // GFINE's nearer sample, else GSTART's (child()'s choice)
        int32_t sb = tk->c[C_SB];
        uint32_t gs = tk->gfine ? (uint32_t)tk->gf : (uint32_t)tk->c[C_GS], gmask = ((uint32_t)1 << gs) - 1, k = g & gmask;
        size_t ns = tk->gfine ? tk->nfine : tk->gst.n >> (sb == 2 ? 1 : 2), nn = nd->n;
        q = g >> gs;
        if (k > (gmask + 1) >> 1 && (size_t)q + 2 <= ns) {
            k = gmask + 1 - k + 1;  // group ends to meet going back; j is after the last of them
            j = tk->gfine ? tk->gfine[q + 1] : gsample(tk, q + 1, sb);
            if (j > nn) {
                out_of_range();
            }
            P = nd->P, lo = nd->lo, hi = nd->hi;  // (a paged GSTART's read may have dropped the span)
            for (;;) {
                if (j == 0) {
                    out_of_range();
                }
                NDSPAN(j - 1);
                while (j > lo) {
                    if (aligned(P + j)) {
                        if (j >= lo + 16) {
                            uint32_t m = lanes(ENDS8(P, j - 16) + ENDS8(P, j - 8));
                            if (m < k) {
                                k -= m;
                                j -= 16;
                                continue;
                            }
                        }
                        if (j >= lo + 4) {
                            uint32_t m = lanes(ENDS4(P, j - 4));
                            if (m < k) {
                                k -= m;
                                j -= 4;
                                continue;
                            }
                        }
                    }
                    if ((P[--j] & 0x80) && --k == 0) {
                        j++;
                        goto found;
                    }
                }
            }
        } else {
            if ((size_t)q + 1 > ns) {
                out_of_range();
            }
            j = tk->gfine ? tk->gfine[q] : gsample(tk, q, sb);
            P = nd->P, lo = nd->lo, hi = nd->hi;
            while (k) {
                NDSPAN(j);  // IndexError at the end
                while (j < hi) {
                    if (aligned(P + j)) {
                        if (j + 16 <= hi) {
                            uint32_t m = lanes(ENDS8(P, j) + ENDS8(P, j + 8));
                            if (m < k) {
                                k -= m;
                                j += 16;
                                continue;
                            }
                        }
                        if (j + 4 <= hi) {
                            uint32_t m = lanes(ENDS4(P, j));
                            if (m < k) {
                                k -= m;
                                j += 4;
                                continue;
                            }
                        }
                    }
                    k -= P[j++] >> 7;
                    if (!k) {
                        break;
                    }
                }
            }
        }
    }
found:
    // the group's nodes are sorted by symbol; its last has bit 7 set
    for (;;) {
        NDSPAN(j);  // IndexError at the end
        for (; j < hi; j++) {
            uint32_t nb = P[j], t = nb & 63;
            if (t >= s) {
                return t == s ? (int32_t)j : -1;
            }
            if (nb & 0x80) {
                return -1;
            }
        }
    }
    #undef NDSPAN
}

// record number of terminal node best: the terminal nodes (bit 6) before it, from the
// nearer of the two samples around it (_tok_py._rank_t_py)
// child() with NODES and HASKIDS in RAM and every RAM table there (tk->fast: a model in
// ROMFS, a buffer, or file mode with the trie in RAM): the same steps with direct reads and
// few live values, so that the loops keep them in registers: on cortex-m0, the bench's
// non-ASCII texts (make bench BOARD=cortex-m0), about 130 instructions a call on average,
// where child() takes about 190 with the same tables (and took 260 before GFINE and ROOTS).
// node < n_nodes (a root, or child()'s result); GROUPS' and GFINE's entries are build_accel's,
// at most n_nodes; every skip and scan is bounded by n_nodes.
static __attribute__((noinline)) int32_t child_ram(tk_t *tk, int32_t node, uint32_t s) {
    uint32_t un = (uint32_t)node;
    if (un < 2 && s < 64) {
        uint32_t r = tk->roots[(un << 6) | s];
        return r == 0xFFFF ? -1 : (int32_t)r;
    }
    uint32_t q = un >> HF, b = un & 63;
    if ((q << (HF - 3)) + 8 > tk->hk.n) {  // the last, short block of HASKIDS
        return child(tk, node, s);
    }
    const word_t *w = (const word_t *)(tk->hk.p + (q << (HF - 3)));  // aligned: tk->fast
    const uint8_t *P = tk->nodes.p;
    uint32_t g = tk->hfine[q], x;
    if (b >= 32) {
        g += pop32(*w++);
        b -= 32;
    }
    x = *w;
    if (!((x >> b) & 1)) {
        return -1;
    }
    g += pop32(x & (((uint32_t)1 << b) - 1));
    size_t nn = tk->nodes.n, j;
    if (g + 1 < tk->ng) {  // GROUPS: bisection over the group's symbols, the last few scanned
        size_t lo = tk->groups[g], hi = tk->groups[g + 1];
        while (hi - lo > 4) {
            size_t mid = (lo + hi) >> 1;
            if ((P[mid] & 63) < s) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        j = lo;
    } else {
        // GFINE's nearer sample, then a skip over group ends four nodes at a time: child()'s
        // loops without their spans (calling out for them cost 46 instructions per token more
        // on the bench's non-ASCII texts)
        uint32_t gf = (uint32_t)tk->gf, half = (uint32_t)1 << (gf - 1), k = g & ((half << 1) - 1);
        q = g >> gf;
        if (k > half && q + 2 <= tk->nfine) {
            k = (half << 1) - k + 1;  // group ends to meet going back; j is after the last of them
            j = tk->gfine[q + 1];
            for (;;) {
                if (j == 0) {
                    out_of_range();
                }
                if (j >= 4 && aligned(P + j)) {
                    uint32_t m = lanes((*(const word_t *)(P + j - 4) >> 7) & 0x01010101u);
                    if (m < k) {
                        k -= m;
                        j -= 4;
                        continue;
                    }
                }
                if ((P[--j] & 0x80) && --k == 0) {
                    j++;
                    break;
                }
            }
        } else {
            if (q + 1 > tk->nfine) {
                out_of_range();
            }
            j = tk->gfine[q];
            while (k) {
                if (j >= nn) {
                    out_of_range();
                }
                if (j + 4 <= nn && aligned(P + j)) {
                    uint32_t m = lanes((*(const word_t *)(P + j) >> 7) & 0x01010101u);
                    if (m < k) {
                        k -= m;
                        j += 4;
                        continue;
                    }
                }
                k -= P[j++] >> 7;
            }
        }
    }
    // the group's nodes are sorted by symbol; its last has bit 7 set
    for (; j < nn; j++) {
        uint32_t nb = P[j], t = nb & 63;
        if (t >= s) {
            return t == s ? (int32_t)j : -1;
        }
        if (nb & 0x80) {
            return -1;
        }
    }
    out_of_range();
}

// terminal nodes in NODES[a:b] (b <= n_nodes): directly when NODES is in RAM
INLINE uint32_t flags_nd(tk_t *tk, size_t a, size_t b) {
    return tk->nodes.p ? flags_range(tk->nodes.p, a, b, 6) : flags_tab(tk, &tk->nodes, a, b, 6);
}

static uint32_t rank_t(tk_t *tk, uint32_t best) {
    const int32_t *cc = tk->c;
    int32_t ts = cc[C_TS];
    tab_t *nd = &tk->nodes;  // best < nd->n: child() returned it
    if (tk->tfine) {  // the RAM table's finer samples
        uint32_t q = best >> TF;
        if ((best & ((1 << TF) - 1)) > (1 << TF) >> 1 && (size_t)(q + 1) << TF < nd->n) {
            return tk->tfine[q + 1] - flags_nd(tk, best, (size_t)(q + 1) << TF);
        }
        return tk->tfine[q] + flags_nd(tk, (size_t)q << TF, best);
    }
    uint32_t q = best >> ts;
    if ((best & (((uint32_t)1 << ts) - 1)) > ((uint32_t)1 << ts) >> 1 && (size_t)(q + 1) << ts < nd->n) {
        uint32_t r = sample(tk, &tk->tr, q + 1, cc[C_SB]);
        return r - flags_nd(tk, best, (size_t)(q + 1) << ts);
    }
    uint32_t r = sample(tk, &tk->tr, q, cc[C_SB]);
    return r + flags_nd(tk, (size_t)q << ts, best);
}

// Greedy longest match over WORD[0:n]; record numbers to OUT from OUT[NOUT] on; returns
// their count, or -1 when the word is unknown (_tok_py.wordpiece).
static int32_t wordpiece(tk_t *tk, size_t n) {
    int32_t *cc = tk->c;
    const tab_t *w = &tk->word;
    uint32_t esc = cc[C_ESC];
    size_t o = (size_t)cc[C_NOUT], np = 0, pos = 0;
    if (n > w->n) {
        out_of_range();
    }
    // child_ram when the trie and the RAM tables allow (tk->fast), else child(); NODES in RAM
    // then, child_ram's results below n_nodes
    int32_t (*step)(tk_t *, int32_t, uint32_t) = tk->fast ? child_ram : child;
    const uint8_t *P = tk->fast ? tk->nodes.p : NULL;
    while (pos < n) {
        int32_t node = pos == 0 ? 0 : 1, best = -1;
        size_t best_end = 0;
        for (size_t i = pos; i < n; i++) {
            uint32_t b = w->p[i], s = tk->symmap.p[b];  // symmap.n >= 256: tk_init
            if (s == 255) {  // an escaped byte: two symbols
                node = step(tk, node, esc + (b >> 6));
                if (node < 0) {
                    break;
                }
                s = b & 63;
            }
            node = step(tk, node, s);
            if (node < 0) {
                break;
            }
            if ((P ? P[node] : at(tk, &tk->nodes, (size_t)node)) & 0x40) {
                best = node;
                best_end = i + 1;
            }
        }
        if (best < 0) {
            return -1;
        }
        if (o + np >= tk->nout) {
            out_of_range();
        }
        tk->out[o + np] = (int32_t)rank_t(tk, (uint32_t)best);
        np++;
        pos = best_end;
    }
    return (int32_t)np;
}

// End the current word: WordPiece it, queue its records in OUT, count (_tok_py.flush).
static void tk_flush(tk_t *tk) {
    int32_t *cc = tk->c;
    int32_t wc = cc[C_WC];
    if (wc == 0 || cc[C_DONE]) {
        cc[C_WN] = cc[C_WC] = 0;
        return;
    }
    int32_t n = -1;
    if (wc <= cc[C_MWC]) {
        n = wordpiece(tk, (size_t)cc[C_WN]);
    }
    cc[C_WN] = cc[C_WC] = 0;
    int32_t count = cc[C_COUNT];
    if (n < 0) {
        count++;  // [UNK]: counted for the max_length cut, then dropped
    } else {
        int32_t left = cc[C_MAXLEN] - count;
        if (n > left) {
            n = left;
        }
        count += n;
        cc[C_NOUT] += n;
    }
    cc[C_COUNT] = count;
    if (count >= cc[C_MAXLEN]) {
        cc[C_DONE] = 1;
    }
}

static uint32_t run_start(tk_t *tk, size_t o) {
    const tab_t *r = &tk->runs;
    if (o - r->lo < r->hi - r->lo && r->hi - o >= 3) {  // in RAM, or in the span: read directly
        const uint8_t *p = r->P;
        return p[o] | (p[o + 1] << 8) | (p[o + 2] << 16);
    }
    uint32_t v = at(tk, &tk->runs, o);
    v |= at(tk, &tk->runs, o + 1) << 8;
    return v | (at(tk, &tk->runs, o + 2) << 16);
}

// Index of the NORM_RUNS entry holding cp (binary search, one-run cache in c).
static int32_t tk_find_run(tk_t *tk, int32_t cp) {
    int32_t *cc = tk->c;
    if (cc[C_RLO] <= cp && cp < cc[C_RHI]) {
        return cc[C_RI];
    }
    // the run before it (C_RLO2..C_RI2, the C core's own): scripts whose letters alternate
    // with marks or with another case switch between two runs at every code point; the
    // entries swap, as C_RLO..C_RI must hold cp's run (ALT's parity, STR's offset)
    int32_t lo2 = cc[C_RLO2], hi2 = cc[C_RHI2], ri2 = cc[C_RI2];
    cc[C_RLO2] = cc[C_RLO], cc[C_RHI2] = cc[C_RHI], cc[C_RI2] = cc[C_RI];
    if (lo2 <= cp && cp < hi2) {
        cc[C_RLO] = lo2, cc[C_RHI] = hi2, cc[C_RI] = ri2;
        return ri2;
    }
    int32_t nruns = cc[C_NRUNS];
    if (nruns < 1 || (size_t)nruns * 6 > tk->runs.n) {
        out_of_range();
    }
    int32_t lo = 0, hi = nruns - 1;
    if (tk->ridx && cp >= 0) {  // RIDX: the runs of cp's page (build_accel checked nruns)
        uint32_t pg = (uint32_t)cp >> RS;
        if (pg + 1 < NRIDX) {
            lo = tk->ridx[pg], hi = tk->ridx[pg + 1];
        } else {
            lo = tk->ridx[NRIDX - 1];
        }
    }
    const uint8_t *R = tk->runs.p;  // in RAM: read directly (nruns * 6 <= its length)
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) >> 1;
        size_t o = (size_t)mid * 6;
        if ((R ? R[o] | (R[o + 1] << 8) | (R[o + 2] << 16) : run_start(tk, o)) <= (uint32_t)cp) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    cc[C_RLO] = run_start(tk, (size_t)lo * 6);
    cc[C_RHI] = lo + 1 < nruns ? (int32_t)run_start(tk, (size_t)(lo + 1) * 6) : 0x110000;
    cc[C_RI] = lo;
    return lo;
}

// One normalised code point u appended to the current word as UTF-8 (Tokenizer._out). Past
// max_word_chars the word will be [UNK]: its characters are counted, not stored (WORD holds
// 4 * max_word_chars bytes: tk_scan checks). Inlined in tk_scan's loop for a word character
// (about 20 instructions a code point on cortex-m0 less than a call of emit).
INLINE void put(tk_t *tk, uint32_t u) {
    int32_t *cc = tk->c;
    int32_t wc = cc[C_WC] + 1;
    cc[C_WC] = wc;
    if (wc <= cc[C_MWC]) {
        uint8_t *w = (uint8_t *)tk->word.p;
        size_t n = (size_t)cc[C_WN];
        if (u < 0x80) {
            w[n++] = u;
        } else if (u < 0x800) {
            w[n++] = 0xC0 | (u >> 6);
            w[n++] = 0x80 | (u & 63);
        } else if (u < 0x10000) {
            w[n++] = 0xE0 | (u >> 12);
            w[n++] = 0x80 | ((u >> 6) & 63);
            w[n++] = 0x80 | (u & 63);
        } else {
            w[n++] = 0xF0 | ((u >> 18) & 7);
            w[n++] = 0x80 | ((u >> 12) & 63);
            w[n++] = 0x80 | ((u >> 6) & 63);
            w[n++] = 0x80 | (u & 63);
        }
        cc[C_WN] = (int32_t)n;
    }
}

// One normalised code point into the current word: an isolated one (punctuation, CJK) is
// a word of its own.
static __attribute__((noinline)) void emit(tk_t *tk, uint32_t u, uint32_t iso) {
    if (iso) {
        tk_flush(tk);
    }
    put(tk, u);
    if (iso) {
        tk_flush(tk);
    }
}

// STR (docs/FORMAT.md §3): the n UTF-8 bytes NORM_POOL[p:p+n], each code point emitted
// (as m2v/_tok_py.py's scan: bad UTF-8 is a damaged model)
static void emit_str(tk_t *tk, size_t p, uint32_t n, uint32_t iso) {
    size_t e = p + n;
    while (p < e) {
        uint32_t b = at(tk, &tk->pool, p++), k = b < 0x80 ? 0 : b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 4;
        if (k > 3 || p + k > e) {
            mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: bad UTF-8 in NORM_POOL"));
        }
        uint32_t u = k ? b & (0x3F >> k) : b;
        for (; k; k--) {
            uint32_t x = at(tk, &tk->pool, p++);
            if ((x & 0xC0) != 0x80) {
                mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: bad UTF-8 in NORM_POOL"));
            }
            u = (u << 6) | (x & 63);
        }
        emit(tk, u, iso);
    }
}

// HANGUL (Unicode §3.12): syllable cp (a HANGUL run holds syllables only: s < 11172) into
// its conjoining jamo L, V and, unless t is 0, T. The divisions by 588 and 28 are
// multiplications by reciprocals (armv6m has no divide instruction), exact for every
// s < 11172 (checked for each: floor(s * 14267 / 2**23) = s // 588 and floor(r * 293 /
// 2**13) = r // 28 for r < 588; the products stay below 2**28).
static void emit_hangul(tk_t *tk, uint32_t cp, uint32_t iso) {
    uint32_t s = cp - 0xAC00;
    if (s >= 11172) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: bad Hangul run"));
    }
    uint32_t l = (s * 14267) >> 23, r = s - l * 588, v = (r * 293) >> 13, t = r - v * 28;
    emit(tk, 0x1100 + l, iso);
    emit(tk, 0x1161 + v, iso);
    if (t) {
        emit(tk, 0x11A7 + t, iso);
    }
}

// scan(T, c, text, end[, force]): tokenise text from byte c[I] (_tok_py.scan): ASCII through the ASCII table, other code points through
// NORM_RUNS; stops at end, before a byte that may start an added token (unless it is the
// first and force is set: the caller found none there), before a code point of an unknown
// kind (a damaged model: tok.py raises), at a cut, or when OUT is nearly full.
static void tk_scan(tk_t *tk, const uint8_t *t, size_t end, int force) {
    int32_t *cc = tk->c;
    size_t i = (size_t)cc[C_I];
    int32_t chars = cc[C_CHARS], limit = cc[C_LIMIT], mwc = cc[C_MWC], room = cc[C_ROOM];
    // the run of the last code point (c's C_RLO..C_RI, find_run's) as locals: [rlo, rhi), its
    // kind byte kb and arg rarg; none yet (rlo = rhi)
    int32_t rlo = 0, rhi = 0, rarg = 0;
    uint32_t kb = 0;
    if ((size_t)mwc * 4 > tk->word.n) {
        mp_raise_ValueError(MP_ERROR_TEXT("word buffer too short"));
    }
    while (i < (size_t)end) {
        if (chars >= limit || cc[C_DONE] || cc[C_NOUT] > room) {
            break;
        }
        uint32_t b = t[i], v, iso;
        int32_t cp;
        if (tk->first.p[b] && !force) {
            break;
        }
        force = 0;
        if (b < 0x80) {
            i++;
            chars++;
            v = tk->asc.p[b];
            if (v == 0) {
                continue;
            }
            if (v == 1) {
                tk_flush(tk);
                continue;
            }
            cp = v == 2 ? (int32_t)b : (int32_t)(v & 0x7F);  // 2: a control kept as a word character
            iso = v & 0x80;
        } else {
            size_t nb = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if (i + nb > (size_t)end) {
                mp_raise_ValueError(MP_ERROR_TEXT("truncated UTF-8"));
            }
            if (nb == 2) {
                cp = ((b & 0x1F) << 6) | (t[i + 1] & 63);
            } else if (nb == 3) {
                cp = ((b & 0x0F) << 12) | ((t[i + 1] & 63) << 6) | (t[i + 2] & 63);
            } else {
                cp = ((b & 7) << 18) | ((t[i + 1] & 63) << 12) | ((t[i + 2] & 63) << 6) | (t[i + 3] & 63);
            }
            if ((uint32_t)(cp - rlo) >= (uint32_t)(rhi - rlo)) {
                // not the run of the last code point: find_run (its cache or a search), then
                // the run's kind byte and arg, kept here until cp leaves the run
                size_t o = (size_t)tk_find_run(tk, cp) * 6;
                rlo = cc[C_RLO], rhi = cc[C_RHI];
                const uint8_t *R = tk->runs.p;
                if (R && o + 6 <= tk->runs.n) {  // in RAM
                    kb = R[o + 3], rarg = R[o + 4] | (R[o + 5] << 8);
                } else {
                    kb = at(tk, &tk->runs, o + 3);
                    rarg = at(tk, &tk->runs, o + 4);
                    rarg |= at(tk, &tk->runs, o + 5) << 8;
                }
            }
            uint32_t kind = kb & 7;
            if (kind > 5) {
                break;  // a corrupt kind: tok.py raises
            }
            i += nb;
            chars++;
            if (kind == 0) {
                continue;
            }
            if (kind == 1) {
                tk_flush(tk);
                continue;
            }
            int32_t arg = rarg;
            if (kind == 4) {  // STR: kb >> 4 bytes from the pool (arg unsigned)
                uint32_t n = kb >> 4;
                emit_str(tk, (size_t)arg + (size_t)(uint32_t)(cp - rlo) * n, n, kb & 8);
                continue;
            }
            if (kind == 5) {
                emit_hangul(tk, (uint32_t)cp, kb & 8);
                continue;
            }
            if (arg > 0x7FFF) {
                arg -= 0x10000;
            }
            if (kind == 2 || ((cp - rlo) & 1) == 0) {
                cp += arg;
            }
            iso = kb & 8;
        }
        if (iso) {
            emit(tk, (uint32_t)cp, iso);
        } else {
            put(tk, (uint32_t)cp);
        }
    }
    cc[C_I] = (int32_t)i;
    cc[C_CHARS] = chars;
}

static mp_obj_t scan(size_t n_args, const mp_obj_t *args) {
    tk_t tk;
    tk_init(&tk, args[0], args[1]);
    size_t ntext;
    const uint8_t *t = buffer(args[2], &ntext, MP_BUFFER_READ);
    mp_int_t end = mp_obj_get_int(args[3]);
    if (end < 0 || (size_t)end > ntext) {
        mp_raise_ValueError(MP_ERROR_TEXT("end out of range"));
    }
    tk_scan(&tk, t, (size_t)end, n_args > 4 && mp_obj_is_true(args[4]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(scan_obj, 4, 5, scan);

// The longest added token (ADDED, docs/FORMAT.md §4: u16 count, then per token u8 len, its
// bytes, u32 id, u16 row, u16 code) that t[i:end] starts with and whose characters fit in
// left (Tokenizer._added_at: the tokens sorted longest first, the first that fits); its
// length in bytes, or 0.
static size_t added_at(tk_t *tk, const uint8_t *t, size_t i, size_t end, int32_t left, uint32_t *tch,
    uint32_t *tid, uint32_t *row, uint32_t *code) {
    tab_t *a = &tk->added;
    size_t cnt = at(tk, a, 0) | (at(tk, a, 1) << 8), p = 2, best = 0;
    for (size_t k = 0; k < cnt; k++) {
        size_t n = at(tk, a, p++);
        if (n > best && n <= end - i) {
            size_t j = 0;
            int32_t ch = 0;
            for (; j < n; j++) {
                uint32_t x = at(tk, a, p + j);
                if (x != t[i + j]) {
                    break;
                }
                ch += (x & 0xC0) != 0x80;  // the token's code points: its bytes that start one
            }
            if (j == n && ch <= left) {
                size_t r = p + n;
                best = n;
                *tch = (uint32_t)ch;
                *tid = at(tk, a, r) | (at(tk, a, r + 1) << 8) | (at(tk, a, r + 2) << 16) | (at(tk, a, r + 3) << 24);
                *row = at(tk, a, r + 4) | (at(tk, a, r + 5) << 8);
                *code = at(tk, a, r + 6) | (at(tk, a, r + 7) << 8);
            }
        }
        p += n + 8;
    }
    return best;
}

// pool the records queued in OUT (unless pool is 0), and empty it
static void pool_out(pool_t *p, tk_t *tk, int pool) {
    size_t n = (size_t)tk->c[C_NOUT];
    if (n > tk->nout) {
        out_of_range();
    }
    if (pool) {
        pool_recs(p, tk->out, n);
        if (tk->paged) {  // file mode's pooling read records through the page cache
            tk_drop(tk);
        }
    }
    tk->c[C_NOUT] = 0;
}

// embed's body (below): the whole embed with the text a str; 1 done, 0 not started, 2 handed over
static __attribute__((noinline)) int embed_run(const mp_obj_t *args, int pool) {
    tk_t tk;
    tk_init(&tk, args[0], args[1]);
    int32_t *cc = tk.c;
    if (cc[C_DIMS] <= 0 || cc[C_IB] < 0 || cc[C_IB] > 32 || cc[C_MB] < 0 || cc[C_WB] < 0 || cc[C_RB] < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("corrupt m2v model: pooling arguments out of range"));
    }
    mp_buffer_info_t bo;
    mp_get_buffer_raise(args[3], &bo, MP_BUFFER_RW);
    if (bo.typecode != 'h' || bo.len != 2 * (size_t)cc[C_DIMS]) {
        return 0;
    }
    size_t ntext, nacc, nwc;
    const uint8_t *t = buffer(args[2], &ntext, MP_BUFFER_READ);
    pool_t p;
    mp_obj_t T = args[0], cen = item(T, T_CEN);
    p.acc = buffer(item(T, T_ACC), &nacc, MP_BUFFER_RW);
    p.wcodes = buffer(item(T, T_WCODES), &nwc, MP_BUFFER_READ);
    p.rb = cc[C_RB], p.ib = cc[C_IB], p.mb = cc[C_MB], p.wb = cc[C_WB], p.dims = cc[C_DIMS];
    if (cen == mp_const_none) {  // file mode: records and rows through the file
        pool_file(&p, T, cc, item(T, T_FILE), item(T, T_ROW), cc[C_OCEN], cc[C_NCEN], tk.paged ? &tk.pc : NULL);
    } else {
        p.cen = buffer(cen, &p.ncen, MP_BUFFER_READ);
        tab_t rec;
        table(&rec, T, T_RECORDS);
        p.rec = rec.p, p.nrec = rec.n;
    }
    pool_check(&p, nacc, nwc);
    for (int k = C_WN; k < C_END; k++) {
        cc[k] = 0;
    }
    p.fresh = 1;  // acc's first pass stores (pool_recs): no zeroing; zeroed below if none ran
    int force = 0;
    size_t forced = (size_t)-1;
    for (;;) {
        tk_scan(&tk, t, ntext, force);
        force = 0;
        if (cc[C_NOUT] > cc[C_ROOM]) {  // a full batch: pooled here, the scan goes on
            pool_out(&p, &tk, pool);
            continue;
        }
        size_t i = (size_t)cc[C_I];
        if (i >= ntext || cc[C_CHARS] >= cc[C_LIMIT] || cc[C_DONE]) {
            break;
        }
        if (!tk.first.p[t[i]] || i == forced) {
            if (p.fresh) {  // acc as tok.run goes on with it: the sums so far, none
                zero32(p.acc, p.dims);
            }
            return 2;  // a code point of an unknown kind: tok.run raises
        }
        // a byte that may start an added token (tok.run's loop): the longest one there is one
        // token, after the current word and the queued batch; none: the byte as any other
        uint32_t tch = 0, tid = 0, row = 0, code = 0;
        size_t n = added_at(&tk, t, i, ntext, cc[C_LIMIT] - cc[C_CHARS], &tch, &tid, &row, &code);
        if (!n) {
            force = 1;
            forced = i;
            continue;
        }
        tk_flush(&tk);
        if (cc[C_DONE]) {
            break;
        }
        pool_out(&p, &tk, pool);
        cc[C_I] = (int32_t)(i + n);
        cc[C_CHARS] += (int32_t)tch;
        if (tid != (uint32_t)cc[C_UNK] && pool) {  // [UNK] is counted, not pooled
            pool_one(&p, row, code);
        }
        if (++cc[C_COUNT] >= cc[C_MAXLEN]) {
            cc[C_DONE] = 1;
        }
    }
    tk_flush(&tk);
    pool_out(&p, &tk, pool);
    if (pool) {
        if (p.fresh) {  // no token pooled
            zero32(p.acc, p.dims);
        }
        normalize(p.acc, bo.buf, p.dims, cc[C_NB], cc[C_Q]);
    }
    return 1;
}

// The model's lock (m2v/model.py: _new_guard, _enter, _leave), taken by embed() so that
// Model.embed_into needs no exception handler (which made its frame a heap block per call).
// g's items: [lk, owner] without _thread, [lk, owner, get_ident] with it. The fast path
// only: 1 when taken; 0 when not free (another thread's call, a re-entry, a closed model),
// which Model._embed hands to _enter, the one place that waits or raises.
static mp_obj_t *guard_items(mp_obj_t g) {
    if (mp_obj_get_type(g) == &mp_type_list) {
        mp_obj_list_t *l = MP_OBJ_TO_PTR(g);
        if (l->len >= 2 && (l->items[0] == mp_const_none || l->len >= 3)) {
            return l->items;
        }
    }
    mp_raise_ValueError(MP_ERROR_TEXT("m2v: bad object lock"));
}

// lk.name(*arg): acquire(0) and release() of a _thread lock
static mp_obj_t lock_call(mp_obj_t lk, qstr name, int n, mp_obj_t arg) {
    mp_obj_t m[3];
    mp_load_method(lk, name, m);
    m[2] = arg;
    return m[1] == MP_OBJ_NULL ? mp_call_function_n_kw(m[0], n, 0, m + 2) : mp_call_function_n_kw(m[0], n + 1, 0, m + 1);
}

static int guard_take(mp_obj_t *g) {
    mp_obj_t lk = g[0];
    if (lk == mp_const_none) {  // no _thread: owner 1 marks a call (_enter)
        if (g[1] != MP_OBJ_NEW_SMALL_INT(0)) {
            return 0;
        }
        g[1] = MP_OBJ_NEW_SMALL_INT(1);
        return 1;
    }
    if (lock_call(lk, MP_QSTR_acquire, 1, MP_OBJ_NEW_SMALL_INT(0)) != mp_const_true) {
        return 0;
    }
    if (g[1] != MP_OBJ_NEW_SMALL_INT(0)) {  // closed: _enter's _take releases and raises
        lock_call(lk, MP_QSTR_release, 0, MP_OBJ_NULL);
        return 0;
    }
    g[1] = mp_call_function_n_kw(g[2], 0, 0, NULL);  // get_ident(): a re-entry's _take compares it
    return 1;
}

static void guard_drop(mp_obj_t *g) {
    g[1] = MP_OBJ_NEW_SMALL_INT(0);
    if (g[0] != mp_const_none) {
        lock_call(g[0], MP_QSTR_release, 0, MP_OBJ_NULL);
    }
}

// An exception handler around embed_run: the runtime's nlr_push (the native emitter's own: through
// mp_fun_table in the native module, where a firmware with setjmp-based NLR, as xtensawin's, gives
// nlr_push_tail and setjmp), in a buffer laid out as the firmware's nlr_buf_t (prev, ret_val, then
// its registers or jmp_buf: at most 17 words, xtensawin's, and the pystack pointer).
#if MICROPY_ENABLE_DYNRUNTIME
typedef struct {
    void *prev, *ret_val;
    uintptr_t regs[30];
} __attribute__((aligned(8))) catch_t;
typedef int (*setjmp_t)(void *);
INLINE unsigned int catch_push(catch_t *c) {
    if (mp_fun_table.setjmp_) {
        mp_fun_table.nlr_push((nlr_buf_t *)c);
        return (unsigned int)((setjmp_t)mp_fun_table.setjmp_)(c->regs);
    }
    return mp_fun_table.nlr_push((nlr_buf_t *)c);
}
#define catch_pop() mp_fun_table.nlr_pop()
#define catch_raise(c) mp_fun_table.raise(MP_OBJ_FROM_PTR((c)->ret_val))
#else
typedef nlr_buf_t catch_t;
#define catch_push(c) nlr_push(c)
#define catch_pop() nlr_pop()
#define catch_raise(c) nlr_jump((c)->ret_val)
#endif

// the type of a dict: mp_type_dict, which a native module reaches only as the type of a dict
// (mpy_init)
#if MICROPY_ENABLE_DYNRUNTIME
const mp_obj_type_t *m2v_dict_type;
#else
#define m2v_dict_type (&mp_type_dict)
#endif

// impl["tok"] = impl["pool"] = impl["loop"] = "native": a dict's values set in its table, the
// keys found by their qstrs (three stores through the runtime hash every key, a division each:
// about 400 instructions more a call on cortex-m0); keys the table does not hold so (taken out
// by the application, or not interned) are stored through the runtime.
static void impl_native(mp_obj_t impl) {
    mp_obj_t native = MP_OBJ_NEW_QSTR(MP_QSTR_native);
    mp_obj_t tok = MP_OBJ_NEW_QSTR(MP_QSTR_tok), pool = MP_OBJ_NEW_QSTR(MP_QSTR_pool), loop = MP_OBJ_NEW_QSTR(MP_QSTR_loop);
    int found = 0;
    if (mp_obj_get_type(impl) == m2v_dict_type) {
        mp_map_t *map = &((mp_obj_dict_t *)MP_OBJ_TO_PTR(impl))->map;
        for (size_t i = 0; i < map->alloc; i++) {
            mp_obj_t k = map->table[i].key;
            if (k == tok || k == pool || k == loop) {
                map->table[i].value = native;
                found++;
            }
        }
    }
    if (found != 3) {
        mp_obj_dict_store(impl, tok, native);
        mp_obj_dict_store(impl, pool, native);
        mp_obj_dict_store(impl, loop, native);
    }
}

// embed(T, c, text, out[, stages]): the whole of Model.embed_into in one call,
// tokenizer and pooling in C: the state reset, the accumulator zeroed, the scan with every
// full batch of OUT pooled on the spot, the last word, the last batch, the normalisation
// into out. Returns 1 when out holds the vector; 0 before it has touched anything (text
// not a str, out not an array("h") of dims: the Python path raises the error); 2 when the
// scan stopped where the Python loop of m2v/tok.py takes over (a byte that may start an
// added token, a code point of the STR or HANGUL kind): then c, OUT and the accumulator
// hold the state to go on from, exactly as after the Python loop's own scan call.
// stages 1 (make bench's per-stage profile): the tokenizer alone, the batches dropped
// unpooled and out left as it is; 3: everything; 7, the default: everything under the model's
// lock (T[GUARD]), which it takes first (3 when it is not free: nothing touched; Model._embed
// takes it then, or raises) and releases on return or any exception, but after 2 (Model._embed
// goes on under it). Whenever out holds the vector it records the run in model.impl (T[IMPL]).
static mp_obj_t embed(size_t n_args, const mp_obj_t *args) {
    int stages = n_args < 5 ? 7 : (int)mp_obj_get_int(args[4]);
    if (mp_obj_get_type(args[2]) != &mp_type_str) {
        return MP_OBJ_NEW_SMALL_INT(0);
    }
    int r = 0;
    if (!(stages & 4)) {
        r = embed_run(args, stages & 2);
    } else {
        mp_obj_t *g = guard_items(item(args[0], T_GUARD));
        if (!guard_take(g)) {
            return MP_OBJ_NEW_SMALL_INT(3);
        }
        catch_t c;
        if (catch_push(&c) == 0) {
            r = embed_run(args, stages & 2);
            catch_pop();
        } else {
            guard_drop(g);  // g: its list is T's, alive whatever happened
            catch_raise(&c);
        }
        if (r != 2) {
            guard_drop(g);
        }
    }
    if (r == 1 && (stages & 2)) {  // model.impl: what ran (Model.__init__'s keys)
        impl_native(item(args[0], T_IMPL));
    }
    return MP_OBJ_NEW_SMALL_INT(r);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(embed_obj, 4, 5, embed);

// Model.embed_into without a Python frame: Entry(T, c, model) (m2v/model.py makes one per model,
// its attribute embed_into, found in its instance dict) is a callable object; entry(text, out) runs
// embed(T, c, text, out) and returns out when that wrote the vector, else hands over to
// model._embed(text, out, r), as the Python entry does: a wrong argument, the lock not free, a
// hand-over to the Python loop, or the twins selected (active(0), m2v/tok.py select: r 0). On
// cortex-m0 a call costs about 2,000 instructions less than through a Python function.
typedef struct {
    mp_obj_base_t base;
    mp_obj_t T, c, model;
} entry_t;

// the twins are selected (m2v.use("py")): no C embed. It and the native module's type are not
// static: py/dynruntime.mk's linker takes no fixed relocation to a static in bss.
int m2v_entry_off;

#if MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t m2v_entry_type;  // filled by mpy_init
#define entry_type m2v_entry_type
#endif

static mp_obj_t entry_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 3, 3, false);
    entry_t *e = mp_obj_malloc(entry_t, type);
    e->T = args[0], e->c = args[1], e->model = args[2];
    return MP_OBJ_FROM_PTR(e);
}

// entry(text, out), the arguments by position or by name (as the Python twin takes them)
static mp_obj_t entry_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    entry_t *e = MP_OBJ_TO_PTR(self_in);
    mp_obj_t a[4] = {e->T, e->c, MP_OBJ_NULL, MP_OBJ_NULL};
    for (size_t i = 0; i < n_args && i < 2; i++) {
        a[2 + i] = args[i];
    }
    for (size_t i = 0; i < n_kw; i++) {
        mp_obj_t k = args[n_args + 2 * i];
        int j = k == MP_OBJ_NEW_QSTR(MP_QSTR_text) ? 2 : k == MP_OBJ_NEW_QSTR(MP_QSTR_out) ? 3 : 0;
        if (!j || a[j] != MP_OBJ_NULL) {
            n_args = 3;  // an unknown or repeated name: the TypeError below
            break;
        }
        a[j] = args[n_args + 2 * i + 1];
    }
    if (n_args > 2 || a[2] == MP_OBJ_NULL || a[3] == MP_OBJ_NULL) {
        mp_raise_TypeError(MP_ERROR_TEXT("embed_into(text, out) takes text and out"));
    }
    mp_obj_t r = m2v_entry_off ? MP_OBJ_NEW_SMALL_INT(0) : embed(4, a);
    if (r == MP_OBJ_NEW_SMALL_INT(1)) {
        return a[3];
    }
    mp_obj_t m[5];
    mp_load_method(e->model, MP_QSTR__embed, m);
    m[2] = a[2], m[3] = a[3], m[4] = r;
    return m[1] == MP_OBJ_NULL ? mp_call_function_n_kw(m[0], 3, 0, m + 2) : mp_call_function_n_kw(m[0], 4, 0, m + 1);
}

#if !MICROPY_ENABLE_DYNRUNTIME
static MP_DEFINE_CONST_OBJ_TYPE(entry_type, MP_QSTR_Entry, MP_TYPE_FLAG_NONE, make_new, entry_make_new, call,
    entry_call);
#endif

// active(on): whether Entry objects run the C embed (m2v/tok.py select: the kind)
static mp_obj_t active(mp_obj_t on) {
    m2v_entry_off = !mp_obj_get_int(on);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(active_obj, active);

static mp_obj_t flush(mp_obj_t T, mp_obj_t c) {
    tk_t tk;
    tk_init(&tk, T, c);
    tk_flush(&tk);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(flush_obj, flush);

// field(T, c, pos, width): the width-bit field at bit pos of RECORDS (_tok_py.field): a buffer,
// or in file mode a file section read through the page cache
static mp_obj_t tk_field(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_obj_t T = args[0], o = item(T, T_RECORDS);
    mp_int_t pos = mp_obj_get_int(args[2]), width = mp_obj_get_int(args[3]);
    uint32_t mask = ((uint32_t)1 << (width & 31)) - 1;
    mp_buffer_info_t bi;
    if (mp_get_buffer(o, &bi, MP_BUFFER_READ)) {
        if (pos < 0 || (size_t)(pos >> 3) >= bi.len || width < 0 || width > 17) {
            out_of_range();
        }
        return MP_OBJ_NEW_SMALL_INT(field(bi.buf, bi.len, (uint32_t)pos, mask));
    }
    size_t nc;
    const int32_t *cc = buffer(args[1], &nc, MP_BUFFER_READ);
    if (nc < 4 * C_LEN) {
        mp_raise_ValueError(MP_ERROR_TEXT("tokenizer state too short"));
    }
    pool_t p;
    pc_init(&p.pc, T, cc, item(T, T_FILE));
    mp_int_t off = mp_obj_get_int(mp_load_attr(o, MP_QSTR_off)), n = mp_obj_get_int(mp_load_attr(o, MP_QSTR_size));
    if (off < 0 || n < 0 || off >= (mp_int_t)1 << 30 || n >= (mp_int_t)1 << 30 || pos < 0 || pos >> 3 >= n
        || width < 0 || width > 17) {
        out_of_range();
    }
    p.orc = (uint32_t)off, p.nrec = (size_t)n;
    return MP_OBJ_NEW_SMALL_INT(field_f(&p, (uint32_t)pos, mask));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(field_obj, 4, 4, tk_field);

// The module's functions, one line each for both builds: (name's qstr, function object). The
// qstrs are spelt out: py/dynruntime.mk's mpy_ld finds a native module's qstrs in its source text.
#define M2V_FUNCTIONS(F) \
    F(MP_QSTR_zero, zero_obj) \
    F(MP_QSTR_acc_row, acc_row_obj) \
    F(MP_QSTR_acc_recs_f, acc_recs_f_obj) \
    F(MP_QSTR_acc_recs, acc_recs_obj) \
    F(MP_QSTR_normalize_into, normalize_into_obj) \
    F(MP_QSTR_scan, scan_obj) \
    F(MP_QSTR_embed, embed_obj) \
    F(MP_QSTR_active, active_obj) \
    F(MP_QSTR_flush, flush_obj) \
    F(MP_QSTR_field, field_obj) \
    F(MP_QSTR_scan_rows, scan_rows_obj)

#if MICROPY_ENABLE_DYNRUNTIME
#define M2V_STORE(q, obj) mp_store_global(q, MP_OBJ_FROM_PTR(&obj));
mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    M2V_FUNCTIONS(M2V_STORE)
    entry_type.base.type = (void *)&mp_type_type;
    entry_type.flags = MP_TYPE_FLAG_NONE;
    entry_type.name = MP_QSTR_Entry;
    MP_OBJ_TYPE_SET_SLOT(&entry_type, make_new, entry_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&entry_type, call, entry_call, 1);
    mp_store_global(MP_QSTR_Entry, MP_OBJ_FROM_PTR(&entry_type));
    m2v_dict_type = mp_obj_get_type(mp_obj_new_dict(0));
    MP_DYNRUNTIME_INIT_EXIT
}
#else
// The built-in module's name, pasted so that the native module's qstrs (found in this text by
// mpy_ld) stay as they were: the firmware's qstr pass reads the preprocessed source.
#define M2V_MODULE_QSTR(name) MP_QSTR ## _ ## name
#define M2V_ENTRY(q, obj) {MP_ROM_QSTR(q), MP_ROM_PTR(&obj)},
static const mp_rom_map_elem_t m2v_native_globals_table[] = {
    {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(M2V_MODULE_QSTR(_m2v_native))},
    M2V_FUNCTIONS(M2V_ENTRY)
    {MP_ROM_QSTR(MP_QSTR_Entry), MP_ROM_PTR(&entry_type)},
};
static MP_DEFINE_CONST_DICT(m2v_native_globals, m2v_native_globals_table);

const mp_obj_module_t m2v_native_module = {
    .base = {&mp_type_module},
    .globals = (mp_obj_dict_t *)&m2v_native_globals,
};
MP_REGISTER_MODULE(M2V_MODULE_QSTR(_m2v_native), m2v_native_module);
#endif
