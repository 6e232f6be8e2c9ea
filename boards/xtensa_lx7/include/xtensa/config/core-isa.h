// The options of qemu's de233_fpu core that MicroPython's headers ask about (the core's
// own core-isa.h is not packaged): windowed registers, and what its code may use.
#pragma once
#define XCHAL_HAVE_WINDOWED (1)
#define XCHAL_NUM_AREGS (32)
#define XCHAL_HAVE_MUL32 (1)
#define XCHAL_HAVE_MUL32_HIGH (0)
#define XCHAL_HAVE_DIV32 (1)
#define XCHAL_HAVE_FP (1)
