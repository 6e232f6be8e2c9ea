// nearbyintf for this board: LLVM 22's Xtensa back end cannot compile lib/libm/nearbyintf.c
// (a select between 0.0f and -0.0f becomes a constant pool it fails to select), at any -O.
// Round to nearest, ties to even, the sign of a zero result kept: through bits, no float select.
#include <math.h>
#include <stdint.h>

float nearbyintf(float x) {
    union { float f; uint32_t i; } u = {x}, r;
    uint32_t sign = u.i & 0x80000000u;
    if (((u.i >> 23) & 0xff) >= 0x7f + 23) {
        return x;  // already integral, or inf/nan
    }
    u.i &= 0x7fffffffu;
    volatile float big = 8388608.0f;  // 2^23: adding it leaves no fraction bits, rounding to even
    r.f = (u.f + big) - big;
    r.i |= sign;
    return r.f;
}
