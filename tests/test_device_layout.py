"""Every copy of a layout constant in the device package equals its one definition.

The slots of ``T`` and ``c`` are defined once, as ``T_*`` and ``C_*`` in ``m2v/_tok_py.py``;
scripts/gen_layout.py generates from it the C core's ``device/native/layout.h`` and the
``const()`` lines of the other modules that index T or c (MicroPython folds a ``const()``
only in its own module). The other definitions: ``PS`` and ``WAYS`` in ``m2v/model.py``, the section ids
in ``host_tools/binfmt.py``. A generated file that is stale, a copy that drifts, or a name
that a copy has and the definition lacks fails here.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
from mpy import DEVICE, ROOT, run_py

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
SLOT_USERS = ["tok.py", "_spend.py"]


def gen_layout():
    """scripts/gen_layout.py as a module."""
    spec = importlib.util.spec_from_file_location("gen_layout", ROOT / "scripts" / "gen_layout.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_files_are_current():
    p = subprocess.run([sys.executable, ROOT / "scripts" / "gen_layout.py", "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_the_check_fails_on_drift():
    # a hand-edited copy or header is not what the generator gives
    g = gen_layout()
    layout = g.definition()
    text = (PKG / "tok.py").read_text()
    drifted = text.replace(f"_C_WN = const({layout['C_WN']})", f"_C_WN = const({layout['C_WN'] + 1})")
    assert drifted != text and g.module(drifted, layout, "tok.py") == text
    assert g.header({**layout, "C_WN": layout["C_WN"] + 1}) != (DEVICE / "native" / "layout.h").read_text()
    # a module that names a slot the definition lacks is refused
    with pytest.raises(ValueError, match="C_NOSUCH"):
        g.module(text + "\n_C_NOSUCH\n", layout, "tok.py")


def test_the_definition_is_complete():
    t = sorted(v for k, v in DEFINITION.items() if k.startswith("T_"))
    assert t == list(range(len(t)))  # T: one entry per slot, no gap
    c = {k: v for k, v in DEFINITION.items() if k.startswith("C_") and k not in ("C_END", "C_LEN")}
    # C_SEC is a block: an offset and a size for each of the C core's 8 tab_init tables
    ends = [v + (16 if k == "C_SEC" else 1) for k, v in c.items()]
    assert DEFINITION["C_LEN"] == max(ends)  # c's length
    assert all(not c["C_SEC"] < v < c["C_SEC"] + 16 for v in c.values())  # nothing inside the block
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
    # ram=None's share of the heap has one definition, the loader's share() (a buffer model's budget for the
    # native core's spending too); the head of NODES the loader keeps room for is _spend.py's
    spend, load = evaluate(consts(PKG / "_spend.py")), evaluate(consts(PKG / "_load.py"))
    for k in ("CORE_SHARE", "MAX_TOTAL", "LEAVE", "KEEP"):
        assert k in load and k not in spend, k
    assert spend["HEAD"] == load["HEAD"]


def test_core_reserve_is_spend_size():
    # the loader keeps aside for the native core's finer samples (_load._core) what m2v/_spend.py then allocates
    code = """
from array import array
from m2v import _load, _spend
class O:
    pass
for nn in (2, 1000, 62795, 65535):
    tk, m = O(), O()
    tk.T, tk.c, tk.accel = [None] * 32, array("i", bytes(4 * 64)), 0
    m._s, m.cache, m.n_centroids, m.dims = [None] * 14, None, 2000, 256
    m._s[6] = bytearray(nn)
    _spend.spend(tk, m, _load._core(nn))
    print(nn, tk.accel, _load._core(nn))
"""
    proc = run_py(code)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert len(rows) == 4 and all(int(r[1]) == int(r[2]) > 0 for r in rows), proc.stdout


def test_page_shift_copies():
    model = evaluate(consts(PKG / "model.py"))
    assert model["PM"] == (1 << model["PS"]) - 1
    ps = re.search(r"^#define PS (\d+)$", (DEVICE / "native" / "m2v_native.c").read_text(), re.M)
    assert ps and int(ps.group(1)) == model["PS"]  # the C core's page shift
    ways = re.search(r"^#define WAYS (\d+)$", (DEVICE / "native" / "m2v_native.c").read_text(), re.M)
    assert ways and int(ways.group(1)) == model["WAYS"] == 4  # a set's word counts its next way in two bits
    # and on the device: the page size the loader builds is the one model.PS says
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


def test_native_core_layout_is_the_definition():
    """device/native/layout.h's enums equal _tok_py.py's T_/C_; m2v_native.c has no copy of its own."""
    got = c_enums((DEVICE / "native" / "layout.h").read_text())
    assert got == {k: v for k, v in DEFINITION.items() if k[:2] in ("T_", "C_")}
    text = (DEVICE / "native" / "m2v_native.c").read_text()
    assert '#include "layout.h"' in text
    assert not {k for k in c_enums(text) if k[:2] in ("T_", "C_")}
    used = set(re.findall(r"\b([TC]_[A-Z0-9_]+)\b", text))
    assert used <= set(got), sorted(used - set(got))
