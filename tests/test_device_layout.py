"""Every const() copy of a layout constant in the device package equals its one definition.

Viper needs the slot numbers of ``T`` and ``c`` and the page shift at compile
time, so the modules that use them keep ``const()`` copies. The definitions:
``T_*`` and ``C_*`` in ``m2v/_tok_py.py``, ``PS`` in ``m2v/model.py``, the
section ids in ``host_tools/binfmt.py``. A copy that drifts (or a name that a
copy has and the definition lacks) fails here.
"""

from __future__ import annotations

import re

import pytest
from mpy import DEVICE, run_py

from host_tools import binfmt as bf

PKG = DEVICE / "m2v"
CONST = re.compile(r"^(_?[A-Z][A-Z0-9_]*) = const\(([^#\n]+)\)", re.M)


def consts(path) -> dict[str, str]:
    """``{name: expression}`` of the module's ``const()`` definitions."""
    return dict(CONST.findall(path.read_text()))


def evaluate(table: dict[str, str]) -> dict[str, int]:
    """The value of every entry, by its name without the leading underscore (an entry may name an earlier one)."""
    out: dict[str, int] = {}
    for name, expr in table.items():
        out[name] = eval(re.sub(r"\b(_?[A-Z][A-Z0-9_]*)\b", lambda m: str(out[m.group(1)]), expr))  # noqa: S307
    return {name.lstrip("_"): value for name, value in out.items()}


DEFINITION = evaluate(consts(PKG / "_tok_py.py"))
SLOT_USERS = ["tok.py", "_tok_buf.py", "_tok_file.py", "_spend.py", "_tok_norm.py"]


def test_the_definition_is_complete():
    t = sorted(v for k, v in DEFINITION.items() if k.startswith("T_"))
    assert t == list(range(len(t)))  # T: one entry per slot, no gap
    c = {k: v for k, v in DEFINITION.items() if k.startswith("C_") and k not in ("C_END", "C_LEN")}
    assert DEFINITION["C_LEN"] == max(c.values()) + 1  # c's length
    assert len(set(c.values())) == len(c)  # no slot used twice (C_END marks where the state ends)


@pytest.mark.parametrize("module", SLOT_USERS)
def test_slot_copies_equal_the_definition(module):
    got = {k: v for k, v in evaluate(consts(PKG / module)).items() if k[:2] in ("T_", "C_")}
    assert got, f"{module} has no T/c slot constants"
    for name, value in got.items():
        assert name in DEFINITION, f"{module}: {name} is not in _tok_py.py"
        assert value == DEFINITION[name], f"{module}: {name} = {value}, _tok_py.py says {DEFINITION[name]}"


@pytest.mark.parametrize("module", SLOT_USERS + ["_tok_py.py"])
def test_every_slot_a_module_uses_is_defined_there(module):
    text = (PKG / module).read_text()
    defined = {name.lstrip("_") for name in consts(PKG / module)}
    prefix = "" if module == "_tok_py.py" else "_"
    used = set(re.findall(rf"\b{prefix}([TC]_[A-Z0-9_]+)\b", text))
    assert used <= defined, sorted(used - defined)


def test_heap_share_copy():
    # ram=None's share of the heap: the loader's (file mode) and the native core's spending (buffer models)
    tok, load = evaluate(consts(PKG / "_spend.py")), evaluate(consts(PKG / "_load.py"))
    for k in ("CORE_SHARE", "MAX_SHARE", "MIN_FREE"):
        assert tok[k] == load[k], k


def test_page_shift_copies():
    model = evaluate(consts(PKG / "model.py"))
    file_core = evaluate(consts(PKG / "_tok_file.py"))
    assert file_core["PS"] == model["PS"]
    assert file_core["PM"] == model["PM"] == (1 << model["PS"]) - 1
    # and on the device: the page size the loader builds is the one _tok_file reads
    proc = run_py("from m2v import model\nprint(model.PS)\n")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == model["PS"]


@pytest.mark.parametrize("module", sorted(p.name for p in PKG.glob("*.py")))
def test_section_id_copies_equal_binfmt(module):
    ids = {name: sid for sid, name in bf.SECTION_NAMES.items()}
    for name, value in evaluate(consts(PKG / module)).items():
        if name in ids:
            assert value == ids[name], f"{module}: {name} = {value}, binfmt says {ids[name]}"


def c_enums(text: str) -> dict[str, int]:
    """``{name: value}`` of the C core's ``enum { ... }`` lists (C's rule: one more than the previous entry)."""
    out: dict[str, int] = {}
    for body in re.findall(r"enum\s*\{([^}]*)\}", text):
        value = -1
        for entry in (e.strip() for e in body.split(",")):
            if not entry:
                continue
            name, _, expr = (x.strip() for x in entry.partition("="))
            value = int(expr) if expr else value + 1
            out[name] = value
    return out


def test_native_core_copies_equal_the_definition():
    """device/native/m2v_native.c's T_/C_ enums and its page shift, against _tok_py.py's and model.py's."""
    text = (DEVICE / "native" / "m2v_native.c").read_text()
    got = c_enums(text)
    assert {k for k in got if k.startswith("T_")} >= {"T_ASCII", "T_OUT", "T_ACCEL", "T_ROW", "T_RCACHE"}
    for name, value in got.items():
        assert name in DEFINITION, f"m2v_native.c: {name} is not in _tok_py.py"
        assert value == DEFINITION[name], f"m2v_native.c: {name} = {value}, _tok_py.py says {DEFINITION[name]}"
    used = set(re.findall(r"\b([TC]_[A-Z0-9_]+)\b", text))
    assert used <= set(got), sorted(used - set(got))
    ps = re.search(r"^#define PS (\d+)$", text, re.M)
    assert ps and int(ps.group(1)) == evaluate(consts(PKG / "model.py"))["PS"]
