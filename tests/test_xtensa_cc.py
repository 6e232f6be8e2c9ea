"""scripts/xtensa_cc.py's narrowing: the density option's 16-bit forms only where they encode the same instruction.

Each case is assembled twice with Debian's llvm-mc 22 (the assembler of the xtensawin C core): as
clang wrote it and as ``narrow`` rewrote it. Disassembled, the two must be the same operation with
the same operands, and the rewritten one 2 bytes long exactly where the rewrite took the narrow form
(an operand out of the narrow form's range stays wide).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from scripts import emuboard, xtensa_cc

# (clang's line, whether it has a 16-bit form): the edges of each narrow form's operand range
CASES = [
    ("l32i\ta2, a3, 0", True), ("l32i\ta2, a3, 60", True), ("l32i\ta2, a3, 64", False),
    ("l32i\ta2, a3, 1020", False), ("s32i\ta10, a1, 28", True), ("s32i\ta10, a1, 124", False),
    ("addi\ta2, a2, 1", True), ("addi\ta2, a2, 15", True), ("addi\ta2, a2, -1", True),
    ("addi\ta2, a2, 16", False), ("addi\ta2, a2, 0", False), ("addi\ta2, a2, -2", False),
    ("movi\ta8, -32", True), ("movi\ta8, 95", True), ("movi\ta8, -33", False), ("movi\ta8, 96", False),
    ("add\ta2, a3, a4", True), ("or\ta7, a1, a1", True), ("or\ta7, a1, a2", False),
    ("l32i\ta10, a7, 28                     # 4-byte Folded Reload", True),
]  # fmt: skip


def _tools() -> tuple[str, str]:
    try:
        emuboard.ensure_commands((f"llvm-mc-{xtensa_cc.LLVM}", f"llvm-objdump-{xtensa_cc.LLVM}"))
    except emuboard.ToolsMissing as e:
        if emuboard.in_ci():
            pytest.fail(f"LLVM's Xtensa tools are required in CI: {e}")
        pytest.skip(str(e))
    return xtensa_cc.tool("llvm-mc"), xtensa_cc.tool("llvm-objdump")


def _disassemble(lines: list[str], tmp_path, name: str) -> list[tuple[int, str, str]]:
    """(size in bytes, mnemonic without .n, operands) of each instruction of lines, assembled."""
    mc, objdump = _tools()
    src, obj = tmp_path / f"{name}.s", tmp_path / f"{name}.o"
    src.write_text("\t.text\n" + "".join(f"{x}\n" for x in lines))
    mattr = ",".join(f"+{f}" for f in xtensa_cc.FEATURES)
    subprocess.run([mc, "-triple=xtensa", f"-mattr={mattr}", "-filetype=obj", "-o", str(obj), str(src)], check=True)
    out = subprocess.run([objdump, "-d", f"--mattr={mattr}", str(obj)], check=True, capture_output=True, text=True)
    out = out.stdout
    got = []
    for m in re.finditer(r"^\s+[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)\s*(\S+)\s*(.*)$", out, re.M):
        mnemonic = m.group(2).removesuffix(".n")
        mnemonic, ops = ("or", f"{m.group(3).split(',')[0]}, {m.group(3).split(', ')[1]}, "
                         f"{m.group(3).split(', ')[1]}") if mnemonic == "mov" else (mnemonic, m.group(3))  # fmt: skip
        got.append((len(m.group(1).split()), mnemonic, ops.strip()))
    return got


def test_narrow_forms_encode_the_same_instructions(tmp_path):
    wide = ["\t" + line for line, _ in CASES]
    narrowed = xtensa_cc.narrow("".join(x + "\n" for x in wide)).splitlines()
    assert len(narrowed) == len(wide)
    a, b = _disassemble(wide, tmp_path, "wide"), _disassemble(narrowed, tmp_path, "narrow")
    assert len(a) == len(b) == len(CASES)
    for (line, short), (wsize, wop, wargs), (nsize, nop, nargs) in zip(CASES, a, b):
        assert wsize == 3, line
        assert (wop, wargs) == (nop, nargs), (line, (wop, wargs), (nop, nargs))
        assert nsize == (2 if short else 3), (line, nsize)
