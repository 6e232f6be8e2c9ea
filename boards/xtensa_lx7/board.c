// The emulated Xtensa LX7 board's C side: console over qemu's simcall (the sim machine's
// -serial), time from CCOUNT, the GC's register scan with the windows spilled, exit.
#include <stdint.h>
#include <stdlib.h>

#include "py/mpconfig.h"
#include "py/gc.h"
#include "py/mpstate.h"
#include "shared/runtime/gchelper.h"

#define SYS_EXIT (1)
#define SYS_READ (3)
#define SYS_WRITE (4)
#define SYS_SELECT_ONE (29)
#define SELECT_ONE_READ (1)
// CCOUNT's rate: qemu's de233_fpu core clock (-icount shift=0 runs one instruction per ns)
#define CPU_MHZ (40)

int main(int argc, char **argv);
void _spill_windows(void);
extern uint32_t _sbss, _ebss;

int xtensa_simcall(int nr, int a, int b, int c);  // startup.S
uint32_t xtensa_ccount(void);
#define simcall xtensa_simcall

void xtensa_board_start(void) {
    for (uint32_t *p = &_sbss; p < &_ebss; ++p) {
        *p = 0;
    }
    main(0, NULL);
    exit(0);
}

void exit(int status) {
    simcall(SYS_EXIT, status, 0, 0);
    for (;;) {
    }
}

void abort(void) {
    exit(134);
}

void uart_init(void) {
}

int uart_rx_any(void) {
    uint32_t tv[2] = {0, 0};
    return simcall(SYS_SELECT_ONE, 0, SELECT_ONE_READ, (int)(uintptr_t)tv) > 0;
}

int uart_rx_chr(void) {
    unsigned char c;
    return simcall(SYS_READ, 0, (int)(uintptr_t)&c, 1) == 1 ? c : -1;
}

void uart_tx_strn(const char *buf, size_t len) {
    while (len) {
        int n = simcall(SYS_WRITE, 1, (int)(uintptr_t)buf, (int)len);
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= n;
    }
}

// CCOUNT wraps every 107 s at 40 MHz: extend it to 64 bits (called often enough)
static uint64_t cycles(void) {
    static uint32_t last;
    static uint64_t high;
    uint32_t now = xtensa_ccount();
    if (now < last) {
        high += (uint64_t)1 << 32;
    }
    last = now;
    return high | now;
}

uintptr_t ticks_us(void) {
    return (uintptr_t)(cycles() / CPU_MHZ);
}

uintptr_t ticks_ms(void) {
    return (uintptr_t)(cycles() / (CPU_MHZ * 1000));
}

// Every frame's registers to its save areas on the stack (the older windows spilled by a
// chain of call12s), then the stack from here up scanned as roots.
__attribute__((noinline)) void gc_helper_collect_regs_and_stack(void) {
    _spill_windows();
    volatile uintptr_t here = (uintptr_t)&here;
    uintptr_t sp = here & ~(uintptr_t)3;
    gc_collect_root((void **)sp, ((uintptr_t)MP_STATE_THREAD(stack_top) - sp) / sizeof(uintptr_t));
}
