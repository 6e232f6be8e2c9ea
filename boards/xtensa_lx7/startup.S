// Start-up, window vectors and setjmp/longjmp of the emulated Xtensa LX7 board
// (qemu-system-xtensa -M sim -cpu de233_fpu): windowed ABI, 32 physical address registers.

#define PS_WOE      (1 << 18)
#define PS_UM       (1 << 5)
#define PS_INTLEVEL 15
// qemu's semihosting call (LLVM's assembler does not know the mnemonic)
#define SIMCALL .byte 0x00, 0x51, 0x00

// ------------------------------------------------------------------ vectors (VECBASE)
// Window overflow/underflow handlers at the offsets of the core's configuration
// (XCHAL_WINDOW_*_VECOFS): the standard ones, saving a frame's a0-a3 in the 16 bytes
// below its callee's stack pointer and a4-a11 at the end of its own frame.
    .section .vectors, "ax"
    .global _vectors
_vectors:
    .org 0x00
_WindowOverflow4:
    s32e    a0, a5, -16
    s32e    a1, a5, -12
    s32e    a2, a5, -8
    s32e    a3, a5, -4
    rfwo

    .org 0x40
_WindowUnderflow4:
    l32e    a0, a5, -16
    l32e    a1, a5, -12
    l32e    a2, a5, -8
    l32e    a3, a5, -4
    rfwu

    .org 0x80
_WindowOverflow8:
    s32e    a0, a9, -16
    l32e    a0, a1, -12
    s32e    a1, a9, -12
    s32e    a2, a9, -8
    s32e    a3, a9, -4
    s32e    a4, a0, -32
    s32e    a5, a0, -28
    s32e    a6, a0, -24
    s32e    a7, a0, -20
    rfwo

    .org 0xC0
_WindowUnderflow8:
    l32e    a1, a9, -12
    l32e    a0, a9, -16
    l32e    a7, a1, -12
    l32e    a2, a9, -8
    l32e    a4, a7, -32
    l32e    a3, a9, -4
    l32e    a5, a7, -28
    l32e    a6, a7, -24
    l32e    a7, a7, -20
    rfwu

    .org 0x100
_WindowOverflow12:
    s32e    a0, a13, -16
    l32e    a0, a1, -12
    s32e    a1, a13, -12
    s32e    a2, a13, -8
    s32e    a3, a13, -4
    s32e    a4, a0, -48
    s32e    a5, a0, -44
    s32e    a6, a0, -40
    s32e    a7, a0, -36
    s32e    a8, a0, -32
    s32e    a9, a0, -28
    s32e    a10, a0, -24
    s32e    a11, a0, -20
    rfwo

    .org 0x140
_WindowUnderflow12:
    l32e    a1, a13, -12
    l32e    a0, a13, -16
    l32e    a11, a1, -12
    l32e    a2, a13, -8
    l32e    a4, a11, -48
    l32e    a8, a11, -32
    l32e    a3, a13, -4
    l32e    a5, a11, -44
    l32e    a6, a11, -40
    l32e    a7, a11, -36
    l32e    a9, a11, -28
    l32e    a10, a11, -24
    l32e    a11, a11, -20
    rfwu

    // any other exception or interrupt ends the emulation: exit status 100 + EXCCAUSE
    .org 0x180
    j       _fatal
    .org 0x1C0
    j       _fatal
    .org 0x200
    j       _fatal
    .org 0x240
    j       _fatal
    .org 0x280
    j       _fatal
    .org 0x2C0
    j       _fatal
    .org 0x300
    j       _fatal
    .org 0x340
_UserExceptionVector:
    wsr     a0, excsave1
    rsr     a0, exccause
    bnei    a0, 5, 1f           // 5: MOVSP found the caller's window spilled (alloca)
    j       _alloca_exc
1:  j       _fatal
    .org 0x3C0
    j       _fatal

// ------------------------------------------------------------------ reset
// Everything below stays in .vectors, so that the assembler resolves the jumps and calls
// itself (GNU ld for the lx106 core cannot relocate windowed calls); the literals are
// linked just before .vectors (xtensa.ld), within l32r's reach.
    .literal_position
    .literal .Lvecbase, _vectors
    .literal .Lstack, _stack_top
    .literal .Lps, PS_WOE | PS_UM | PS_INTLEVEL
    .literal .Lcstart, xtensa_board_start
    .global _start
    .p2align 2
_start:
    movi    a0, 0
    l32r    a2, .Lvecbase
    wsr     a2, vecbase
    movi    a2, 1
    wsr     a2, windowstart
    movi    a2, 0
    wsr     a2, windowbase
    rsync
    l32r    a1, .Lstack
    l32r    a2, .Lps
    wsr     a2, ps
    rsync
    movi    a2, 0xff            // coprocessors on: CP0 is the FPU
    wsr     a2, cpenable
    rsync
    l32r    a8, .Lcstart
    callx4  a8
1:  j       1b

    .p2align 2
_fatal:
    rsr     a3, exccause
    addi    a3, a3, 100
    movi    a2, 1               // SYS_exit
    SIMCALL
2:  j       2b

// MOVSP (clang's dynamic alloca) needs the caller's a0-a3 in registers, not in the save
// area below the stack pointer it moves: reload the caller's window with its underflow
// handler, which returns (rfwu, PS.OWB = this window) to the MOVSP. a0's top bits give
// the caller's window size; a2-a4 are saved below the caller's base save area.
    .p2align 2
_alloca_exc:
    addi    a0, a1, -32
    s32i    a2, a0, 0
    s32i    a3, a0, 4
    s32i    a4, a0, 8
    rsr     a2, ps
    extui   a3, a2, 8, 4
    rsr     a4, windowbase
    xor     a3, a3, a4
    slli    a3, a3, 8
    xor     a2, a2, a3
    wsr     a2, ps
    rsync
    l32i    a2, a0, 0
    l32i    a3, a0, 4
    l32i    a4, a0, 8
    rsr     a0, excsave1
    rotw    -1
    bbci    a4, 31, .Luf4
    rotw    -1
    bbci    a8, 30, .Luf8
    rotw    -1
    j       _WindowUnderflow12
.Luf8:
    j       _WindowUnderflow8
.Luf4:
    j       _WindowUnderflow4

// ------------------------------------------------------------------ setjmp / longjmp
// jmp_buf (17 words): the 4-12 registers of the caller's window that live in the save
// areas (0-47), the 4 words of the save area at the caller's sp (48-63), the return
// address with its window-size bits (64). setjmp spills every live window first so that
// the caller's registers are in memory; longjmp keeps only the current window live, puts
// the saved words back and returns into setjmp's caller, whose registers the window
// underflow then reloads from them.
    .literal_position
    .global setjmp
    .type setjmp, @function
    .p2align 2
setjmp:
    entry   a1, 48              // room for the call12 below to spill this window
    call12  .Lspill
    // the caller's a0-a3: its base save area, below our sp
    addi    a5, a1, -16
    l32i    a3, a5, 0
    l32i    a4, a5, 4
    s32i    a3, a2, 0
    s32i    a4, a2, 4
    l32i    a3, a5, 8
    l32i    a4, a5, 12
    s32i    a3, a2, 8
    s32i    a4, a2, 12
    l32i    a8, a5, 4           // the caller's sp
    addi    a8, a8, -16         // the save area below it: its caller's a0-a3
    // the caller's a4-a11 (call8/call12 window): the end of the caller's frame, below its caller's sp
    extui   a3, a0, 30, 2
    blti    a3, 2, .Lsj_done
    l32i    a7, a8, 4           // the caller's caller's sp
    slli    a4, a3, 4
    sub     a5, a7, a4
    addi    a6, a2, 16
    addi    a7, a7, -16
.Lsj_loop:
    l32i    a3, a5, 0
    l32i    a4, a5, 4
    s32i    a3, a6, 0
    s32i    a4, a6, 4
    l32i    a3, a5, 8
    l32i    a4, a5, 12
    s32i    a3, a6, 8
    s32i    a4, a6, 12
    addi    a5, a5, 16
    addi    a6, a6, 16
    blt     a5, a7, .Lsj_loop
.Lsj_done:
    // the save area below the caller's sp (its caller's a0-a3)
    l32i    a3, a8, 0
    l32i    a4, a8, 4
    s32i    a3, a2, 48
    s32i    a4, a2, 52
    l32i    a3, a8, 8
    l32i    a4, a8, 12
    s32i    a3, a2, 56
    s32i    a4, a2, 60
    s32i    a0, a2, 64
    movi    a2, 0
    retw

    .global longjmp
    .type longjmp, @function
    .p2align 2
longjmp:
    entry   a1, 48
    call12  .Lspill
    // only this window stays live
    rsr     a5, windowbase
    movi    a6, 1
    ssl     a5
    sll     a6, a6
    wsr     a6, windowstart
    rsync
    l32i    a0, a2, 64
    addi    a7, a1, -16
    l32i    a4, a2, 0
    l32i    a5, a2, 4
    s32i    a4, a7, 0
    s32i    a5, a7, 4
    l32i    a4, a2, 8
    l32i    a5, a2, 12
    s32i    a4, a7, 8
    s32i    a5, a7, 12
    extui   a7, a0, 30, 2
    blti    a7, 2, .Llj_done
    l32i    a8, a2, 52
    slli    a4, a7, 4
    sub     a6, a8, a4
    addi    a5, a2, 16
    addi    a8, a8, -16
.Llj_loop:
    l32i    a7, a5, 0
    l32i    a4, a5, 4
    s32i    a7, a6, 0
    s32i    a4, a6, 4
    l32i    a7, a5, 8
    l32i    a4, a5, 12
    s32i    a7, a6, 8
    s32i    a4, a6, 12
    addi    a5, a5, 16
    addi    a6, a6, 16
    blt     a6, a8, .Llj_loop
.Llj_done:
    l32i    a7, a2, 4           // the setjmp caller's sp: its caller's a0-a3 below it
    addi    a7, a7, -16
    l32i    a4, a2, 48
    l32i    a5, a2, 52
    s32i    a4, a7, 0
    s32i    a5, a7, 4
    l32i    a4, a2, 56
    l32i    a5, a2, 60
    s32i    a4, a7, 8
    s32i    a5, a7, 12
    movi    a2, 1
    movnez  a2, a3, a3
    retw

// Spill every live register window but the caller's to its save area: a chain of
// call12s deep enough to rotate through all 32 physical registers.
    .global _spill_windows
    .type _spill_windows, @function
    .p2align 2
_spill_windows:
.Lspill:
    entry   a1, 48
    movi    a14, 5
    call12  .Lspill_more
    retw
    .p2align 2
.Lspill_more:
    entry   a1, 48
    beqz    a2, 3f
    addi    a14, a2, -1
    call12  .Lspill_more
3:  retw

// int xtensa_simcall(int nr, int a, int b, int c): qemu's semihosting, arguments in a2-a5
    .global xtensa_simcall
    .type xtensa_simcall, @function
    .p2align 2
xtensa_simcall:
    entry   a1, 16
    SIMCALL
    retw

// uint32_t xtensa_ccount(void)
    .global xtensa_ccount
    .type xtensa_ccount, @function
    .p2align 2
xtensa_ccount:
    entry   a1, 16
    rsr     a2, ccount
    retw
