# An Xtensa LX7 board for MicroPython's qemu port (ports/qemu BOARD_DIR=<this folder>):
# qemu-system-xtensa -M sim -cpu de233_fpu, built with Debian's LLVM 22 (scripts/xtensa_cc.py as
# the compiler) and binutils-xtensa-lx106's ld, the C library headers of picolibc-xtensa-lx106-elf.
# M2V_XTENSA_CC: the scripts/xtensa_cc.py shim's prefix, M2V_XTENSA_LIBC: picolibc's include folder
# (scripts/emuboard.py passes both).
QEMU_ARCH = xtensa
QEMU_MACHINE = sim
THIS_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

CROSS_COMPILE = $(M2V_XTENSA_CC)
SIZE = xtensa-lx106-elf-size
CFLAGS += -I$(abspath $(THIS_DIR)include) -isystem $(M2V_XTENSA_LIBC) -D__XTENSA_WINDOWED_ABI__=1
CFLAGS += -DQEMU_SOC_XTENSA_SIM -DMICROPY_HW_MCU_NAME='"de233_fpu"'
CFLAGS += -DMICROPY_NLR_SETJMP=1 -DMICROPY_EMIT_XTENSAWIN=1 -DMICROPY_EMIT_INLINE_XTENSA=1
CFLAGS += -Wno-gnu-variable-sized-type-not-at-end
# LLVM 22 fails on objcomplex.c (a constant pool of two floats); the package needs no complex numbers
CFLAGS += -DMICROPY_PY_BUILTINS_COMPLEX=0 -Wno-unknown-warning-option
# and on lib/libm at -Os (the same constant pools): -O1 there
$(BUILD)/lib/libm/%.o: CFLAGS += -O1 -Wno-double-promotion
$(BUILD)/lib/libm/sf_erf.o $(BUILD)/lib/libm/asinfacosf.o: CFLAGS += -O0
# and nearbyintf.c at every level: this folder's own
$(BUILD)/lib/libm/nearbyintf.o: $(THIS_DIR)nearbyintf.c
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

LDSCRIPT = $(abspath $(THIS_DIR)xtensa.ld)
SRC_C += $(abspath $(THIS_DIR)board.c) $(abspath $(THIS_DIR)runtime.c)
SRC_BOARD_O += $(abspath $(THIS_DIR)startup.o)

MPY_CROSS_FLAGS += -march=xtensawin
