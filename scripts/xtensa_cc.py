"""A ``gcc`` for Xtensa (windowed ABI) made of Debian's LLVM 22 (clang-22, llvm-mc-22).

    python scripts/xtensa_cc.py [gcc flags] -c SRC.c -o OBJ.o    # what the makefile's $(CROSS)gcc runs
    python scripts/xtensa_cc.py [gcc flags] -E ...               # the preprocessor (clang)
    python scripts/xtensa_cc.py -T LINKER.ld -o OUT.elf OBJ...   # a link: GNU ld (binutils-xtensa-lx106)
    python scripts/xtensa_cc.py -dumpmachine

Two users: py/dynruntime.mk's xtensawin build of the C core (scripts/build_native.py), and
MicroPython's qemu port building the emulated LX7 board (boards/xtensa_lx7, scripts/emuboard.py).

MicroPython's native-module linker (tools/mpy_ld.py) expects the object files of Espressif's
``xtensa-esp32-elf-gcc``. scripts/build_native.py uses this instead when that compiler is not on
PATH, and leaves the MicroPython tree as it is: what clang's output lacks is mended here.

- Target: ``--target=xtensa`` with the core's options as target features (the front end refuses
  ``-mcpu=esp32``), ``FEATURES``: the windowed ABI (``entry``/``callx8``/``retw``) and what both
  the ESP32 (LX6) and the ESP32-S3 (LX7) have, less MUL32_HIGH (``mulsh``/``muluh``), which qemu's
  ``de233_fpu`` core, where the tests run the code, lacks (clang uses it for division by constants).
- ``-fpic`` is dropped (the backend refuses it; code reaches data through ``l32r`` literals
  anyway, which mpy_ld.py turns into its GOT), and so are gcc-only flags (``GCC_ONLY``).
  Builtins are off (``-ffreestanding``): a native module links no libc, and clang would otherwise
  call ``memset`` for zeroing loops.
- The C library headers MicroPython's headers include come from ``LIBC_HEADERS`` (declarations only).
- ``clang -S`` then ``llvm-mc``: objects emitted directly leave literals in ``.text``; assembled,
  they go to ``.literal`` as gcc's do. In the assembly: a ``.literal_position`` that follows data
  is moved back into ``.text``; constant data holding pointers goes to ``.data.rel.ro`` (mpy_ld.py
  relocates only that), and ``mpy_init`` is moved after the other functions (mpy_ld.py sizes its
  entry jump from the offset of ``mpy_init``, which must not be 0).
- Instructions with a 16-bit form of the density option (``l32i.n``, ``s32i.n``, ``addi.n``,
  ``add.n``, ``movi.n``, ``mov.n``) are written in it (``narrow``): GNU as narrows gcc's output so,
  and llvm-mc assembles instructions as written.
- clang's ``va_start`` is mended (``fix_varargs``): without it every ``mp_printf`` of the
  board's firmware printed garbage for ``%c`` and ``%q``.
- In the object: relocations of ``.literal`` against a section symbol carry their addend in the
  literal word and none in the relocation, as GNU as writes them (mpy_ld.py asserts a zero addend);
  relocated ``l32r`` instructions hold 0 in their offset field, as GNU as leaves it (LLVM: -1),
  since mpy_ld.py adds to that field.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

LLVM = "22"
FEATURES = ("windowed", "density", "mul32", "div32", "loop", "nsa", "minmax", "sext", "bool", "fp")
# what the assembler also accepts: the special registers of start-up code (VECBASE, EXCSAVE1, CCOUNT, ...)
SYSTEM_FEATURES = ("exception", "rvector", "interrupt", "highpriinterrupts", "timers1", "miscsr", "prid", "debug",
                   "coprocessor", "s32c1i", "threadptr")  # fmt: skip
GCC_ONLY = ("-fpic", "-fPIC", "-fno-tree-loop-distribute-patterns", "-fsingle-precision-constant")
MACHINE = "xtensa-esp32-elf"
LIBC_HEADERS = {
    "assert.h": "#define assert(e) ((void)0)\n",
    "errno.h": "",
    "string.h": (
        "#include <stddef.h>\n"
        "void *memcpy(void *, const void *, size_t);\n"
        "void *memmove(void *, const void *, size_t);\n"
        "void *memset(void *, int, size_t);\n"
        "int memcmp(const void *, const void *, size_t);\n"
        "size_t strlen(const char *);\n"
        "int strcmp(const char *, const char *);\n"
    ),
}


class ToolError(RuntimeError):
    """A step of the compile failed (the message holds the tool's output)."""


def tool(name: str) -> str:
    """The LLVM 22 tool ``name`` (clang-22 on PATH, or llvm-22's own bin folder)."""
    for cand in (f"{name}-{LLVM}", f"/usr/lib/llvm-{LLVM}/bin/{name}"):
        found = shutil.which(cand)
        if found:
            return found
    raise ToolError(f"{name}-{LLVM} not found: apt-get install clang-{LLVM} llvm-{LLVM}")


def clang_flags(features: tuple[str, ...] = FEATURES) -> list[str]:
    """clang's target and feature flags for the xtensawin code."""
    flags = ["--target=xtensa"]
    for f in features:
        flags += ["-Xclang", "-target-feature", "-Xclang", f"+{f}"]
    return flags


def _run(cmd: list[str]) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise ToolError(f"{' '.join(cmd)}\n{p.stdout}{p.stderr}")


_FUNC = re.compile(r"^\t\.literal_position\n(?:\t\.literal .*\n)*(?:.*\n)*?.*# -- End function\n", re.M)


_RODATA = re.compile(r'(\t\.section\t\.rodata(?:\.[\w.]+)?,"a",@progbits\n)((?:(?!\t\.section|\t\.text).*\n)*)')


def fix_varargs(lines: list[str]) -> list[str]:
    """Mend LLVM 22's va_start for the windowed ABI (GCC's va_list: __va_stk, __va_reg, __va_ndx).

    - It points __va_reg at the first saved variadic register while va_arg reads
      ``__va_reg + __va_ndx - size`` with __va_ndx counting the named arguments too (as GCC's
      va_list does): __va_reg must point at where a2 would be, ``__va_ndx`` bytes lower.
    - It saves the argument register a7 after making a7 the frame pointer (``or a7, a1, a1``):
      the store moves before that instruction, to the same address through a1.
    """
    out = list(lines)
    for i in range(len(out) - 3):
        m1 = re.fullmatch(r"\tmovi\t(a\d+), (\d+)\n", out[i])
        m2 = re.fullmatch(r"\ts32i\t(a\d+), a7, (\d+)\n", out[i + 1])
        m3 = re.fullmatch(r"\taddi\t(a\d+), a7, (-?\d+)\n", out[i + 2])
        m4 = re.fullmatch(r"\ts32i\t(a\d+), a7, (\d+)\n", out[i + 3])
        if not (m1 and m2 and m3 and m4 and m1.group(1) == m2.group(1) and m3.group(1) == m4.group(1)
                and int(m4.group(2)) == int(m2.group(2)) - 4):  # fmt: skip
            continue
        out[i + 2] = f"\taddi\t{m3.group(1)}, a7, {int(m3.group(2)) - int(m1.group(2))}\n"
        # this function's prologue: the frame pointer set up a few lines before the saved registers
        fp = next((k for k in range(i - 1, max(i - 12, -1), -1) if out[k] == "\tor\ta7, a1, a1\n"), None)
        if fp is None:
            continue
        for j in range(fp + 1, i):
            m = re.fullmatch(r"\ts32i\ta7, a7, (\d+)\n", out[j])
            if m:
                out[j] = ""
                out[fp] = f"\ts32i\ta7, a1, {m.group(1)}\n" + out[fp]
                break
    return out


def fix_assembly(asm: str) -> str:
    """clang's Xtensa assembly rearranged for mpy_ld.py (see the module docstring)."""
    lines = fix_varargs(asm.splitlines(keepends=True))
    out: list[str] = []
    section = ".text"
    for ln in lines:
        m = re.match(r"\t\.(text|data|bss)\b|\t\.section\t([^,\s]+)", ln)
        if m:
            section = m.group(1) and f".{m.group(1)}" or m.group(2)
        if ln.startswith("\t.literal_position") and section != ".text":
            out.append("\t.text\n")  # literals belong to the code that follows, not to the data before
            section = ".text"
        out.append(ln)
    text = "".join(out)

    # constant data with pointers (".long symbol") to .data.rel.ro, the section mpy_ld.py relocates
    def relro(m: re.Match) -> str:
        body = m.group(2)
        if re.search(r"^\t\.long\t[A-Za-z_.]", body, re.M):
            return m.group(1).replace(".rodata", ".data.rel.ro", 1).replace('"a"', '"aw"') + body
        return m.group(0)

    text = _RODATA.sub(relro, text)
    # mpy_init last among the functions: mpy_ld.py's entry jump cannot have offset 0
    init = [m for m in _FUNC.finditer(text) if re.search(r"^mpy_init:", m.group(0), re.M)]
    if len(init) == 1:
        m = init[0]
        funcs = list(_FUNC.finditer(text))
        last = funcs[-1]
        if m.start() != last.start():
            text = text[: m.start()] + text[m.end() : last.end()] + m.group(0) + text[last.end() :]
    return narrow(text)


# The density option's 16-bit forms of clang's most frequent instructions (Xtensa ISA, "Code
# Density Option"): the operands each form encodes, which GNU as checks when it narrows an
# instruction (as it does for gcc's output) and llvm-mc, which assembles what it is given,
# does not. Branches stay wide: a narrow one reaches 4 to 67 bytes forward only, which the
# assembly does not tell.
_WIDE = re.compile(r"^\t(l32i|s32i|addi|movi|add|or)\t(a\d+), (a\d+|-?\d+)(?:, (a\d+|-?\d+))?(?=[ \t#]|$)", re.M)


def _narrow_one(m: re.Match) -> str:
    op, a, b, c = m.groups()
    imm = int(c) if c is not None and not c.startswith("a") else None
    if op in ("l32i", "s32i") and imm is not None and 0 <= imm <= 60 and imm % 4 == 0:
        return f"\t{op}.n\t{a}, {b}, {c}"
    if op == "addi" and imm is not None and (imm == -1 or 1 <= imm <= 15):
        return f"\taddi.n\t{a}, {b}, {c}"
    if op == "add" and c is not None and c.startswith("a"):
        return f"\tadd.n\t{a}, {b}, {c}"
    if op == "movi" and c is None and not b.startswith("a") and -32 <= int(b) <= 95:
        return f"\tmovi.n\t{a}, {b}"
    if op == "or" and b == c:  # mov
        return f"\tmov.n\t{a}, {b}"
    return m.group(0)


def narrow(text: str) -> str:
    """text with every instruction that has a 16-bit form of the same operation written in it.

    About a sixth of the C core's code (3 KB): the loaded core takes that much less RAM on an ESP32.
    """
    return _WIDE.sub(_narrow_one, text)


R_XTENSA_SLOT0_OP = 20
L32R_OP0 = 1  # op0 of l32r (RI16 format)


def fix_literal_addends(obj: Path) -> int:
    """Move the addends of ``.rela.literal`` section-symbol relocations into the literal words; return how many.

    And clear the offset field of every relocated ``l32r`` (LLVM leaves -1 there, GNU as 0): mpy_ld.py
    adds the literal's distance to what the field holds.
    """
    from elftools.elf.elffile import ELFFile

    data = bytearray(obj.read_bytes())
    moved = 0
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        for rel in elf.iter_sections():
            if rel.header.sh_type != "SHT_RELA" or not rel.name.startswith(".rela.literal"):
                continue
            target = elf.get_section(rel.header.sh_info)
            for i, r in enumerate(rel.iter_relocations()):
                sym = symtab.get_symbol(r["r_info_sym"])
                if sym["st_info"]["type"] != "STT_SECTION" or r["r_addend"] == 0:
                    continue
                word = target.header.sh_offset + r["r_offset"]
                (old,) = struct.unpack_from("<I", data, word)
                struct.pack_into("<I", data, word, (old + r["r_addend"]) & 0xFFFFFFFF)
                struct.pack_into("<i", data, rel.header.sh_offset + i * rel.header.sh_entsize + 8, 0)
                moved += 1
        for rel in elf.iter_sections():  # l32r: an in-place offset of 0, which mpy_ld.py adds its own to
            if rel.header.sh_type != "SHT_RELA" or not rel.name.startswith(".rela.text"):
                continue
            target = elf.get_section(rel.header.sh_info)
            for r in rel.iter_relocations():
                at = target.header.sh_offset + r["r_offset"]
                if r["r_info_type"] == R_XTENSA_SLOT0_OP and data[at] & 0xF == L32R_OP0:
                    data[at + 1 : at + 3] = b"\0\0"
    obj.write_bytes(bytes(data))
    return moved


def compile_c(src: Path, obj: Path, cflags: list[str], features: tuple[str, ...] = FEATURES) -> None:
    """Compile one C (or preprocessed assembly, .S) file to an object file for xtensawin.

    Without an ``-isystem`` of the caller's, the C library headers are ``LIBC_HEADERS``.
    """
    with tempfile.TemporaryDirectory() as d:
        flags = [f for f in cflags if f not in GCC_ONLY]
        if "-MD" in flags:  # the dependency file names the object, not the assembly in between
            flags += ["-MT", str(obj)]
        free = []  # the caller's C library (-isystem): its builtins may stay builtins
        if "-isystem" not in flags:
            free = ["-ffreestanding"]
            inc = Path(d) / "include"
            inc.mkdir()
            for name, body in LIBC_HEADERS.items():
                (inc / name).write_text(body)
            flags = ["-nostdlibinc", "-isystem", str(inc), *flags]
        asm, fixed = Path(d) / "out.s", Path(d) / "fixed.s"
        if src.suffix in (".S", ".s"):
            _run([tool("clang"), *clang_flags(features), *flags, "-E", "-P", "-x", "assembler-with-cpp",
                  "-o", str(fixed), str(src)])  # fmt: skip
        else:
            _run([tool("clang"), *clang_flags(features), *free, "-Wno-typedef-redefinition", *flags,
                  "-S", "-o", str(asm), str(src)])  # fmt: skip
            fixed.write_text(fix_assembly(asm.read_text()))
        mattr = ",".join(f"+{f}" for f in features + SYSTEM_FEATURES)
        _run([tool("llvm-mc"), "-triple=xtensa", f"-mattr={mattr}", "-filetype=obj", "-o", str(obj), str(fixed)])
    fix_literal_addends(obj)


def link(args: list[str]) -> None:
    """gcc's link line (objects, ``-T script``, ``-Wl,...``) run by GNU ld for Xtensa (binutils-xtensa-lx106).

    Only objects of one link matter here, so the core the binutils are configured for does not:
    clang calls through ``l32r``/``callx8``, so no relocation needs a windowed instruction decoded,
    and relaxation (which would decode them) is off.
    """
    ld = shutil.which("xtensa-lx106-elf-ld")
    if ld is None:
        raise ToolError("xtensa-lx106-elf-ld not found: apt-get install binutils-xtensa-lx106")
    cmd = [ld, "--no-relax"]
    it = iter(args)
    for a in it:
        if a == "-o" or a == "-T":
            cmd += [a, next(it)]
        elif a.startswith("-Wl,"):
            cmd += a[4:].split(",")
        elif a.endswith((".o", ".a")) or a.startswith("-L") or a.startswith("-l"):
            cmd.append(a)
    _run(cmd)


def main(argv: list[str] | None = None) -> int:
    """gcc's command line, as far as py/dynruntime.mk and MicroPython's port makefiles use it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["-dumpmachine"]:
        print(MACHINE)
        return 0
    if args == ["-dumpversion"]:
        print("12")
        return 0
    if any(a.startswith(("--print-file-name", "-print-file-name", "-print-libgcc")) for a in args):
        print(args[-1].split("=", 1)[-1] if "=" in args[-1] else "")
        return 0
    try:
        if "-E" in args:  # the preprocessor (qstr extraction, dependencies)
            p = subprocess.run([tool("clang"), *clang_flags(), *[a for a in args if a not in GCC_ONLY]])
            return p.returncode
        if "-c" not in args:
            link(args)
            return 0
        out = Path(args[args.index("-o") + 1])
        rest = [a for i, a in enumerate(args) if a != "-c" and a != "-o" and (i == 0 or args[i - 1] != "-o")]
        src = [a for a in rest if a.endswith((".c", ".S", ".s"))]
        if len(src) != 1:
            print(f"xtensa_cc: expected one source file: {args}", file=sys.stderr)
            return 2
        compile_c(Path(src[0]), out, [a for a in rest if a != src[0]])
    except ToolError as e:
        print(f"xtensa_cc: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
