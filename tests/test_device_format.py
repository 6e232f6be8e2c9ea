"""The device's model reader (m2v/_header.py and m2v/_load.py) agrees with the host writer (host_tools/binfmt.py), field by field.

Run on the device (the unix MicroPython): the device parses a header written
by ``binfmt.pack_header`` with every field distinct, through its own struct
string, and prints every value; it parses the default model's section table
with its own reader; and it loads the default model in buffer and file mode
and prints every header field it keeps and every section it holds. The host
compares each with binfmt's writer inputs and its own parse. The index names
in _header.py (``_H_<FIELD>``) and the section ids of both are checked against
binfmt's names too.
"""

from __future__ import annotations

import json
import re
from dataclasses import astuple, fields

from mpy import DEVICE, MODEL, run_py
from test_format import distinct_header

from host_tools import binfmt as bf

LOAD = DEVICE / "m2v" / "_load.py"
HEADER = DEVICE / "m2v" / "_header.py"


def device_json(code: str) -> object:
    """Run ``code`` on the device; it prints one JSON value."""
    proc = run_py(code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_device_header_struct_reads_every_field_the_writer_wrote():
    h = distinct_header()
    raw = bf.pack_header(h)
    got = device_json(
        "import json, struct\nfrom m2v import _header\n"
        f"h = struct.unpack_from(_header.HEADER, {raw!r}, 0)\n"
        "print(json.dumps([v.decode() if isinstance(v, bytes) else v for v in h]))\n"
    )
    want = [v.decode() if isinstance(v, bytes) else v for v in astuple(h)]
    assert len(got) == len(fields(bf.Header))
    assert got == want


def test_device_header_indices_name_the_writers_fields():
    names = [f.name for f in fields(bf.Header)]
    consts = dict(re.findall(r"^_H_(\w+) = const\((\d+)\)", HEADER.read_text(), re.M))
    assert consts, "no _H_ constants in _header.py"
    for name, index in consts.items():
        assert names[int(index)] == name.lower(), (name, index)
    assert re.search(rf"^_HEADER_SIZE = const\({bf.HEADER_SIZE}\)$", HEADER.read_text(), re.M)
    keep = device_json("import json\nfrom m2v import _header\nprint(json.dumps(_header.KEEP))\n")
    for i, name in enumerate(keep):
        assert name is None or names[i] == name, (i, name)


def test_device_section_ids_are_the_writers():
    consts = dict(re.findall(r"^_([A-Z_]+) = const\((\d+)\)", LOAD.read_text(), re.M))
    for sid, name in bf.SECTION_NAMES.items():
        assert int(consts[name]) == sid, name
    assert int(consts["N_SECTIONS"]) == len(bf.SECTION_NAMES)
    copies = dict(re.findall(r"^_([A-Z_]+) = const\((\d+)\)", HEADER.read_text(), re.M))
    ids = {name: sid for sid, name in bf.SECTION_NAMES.items()} | {"N_SECTIONS": len(bf.SECTION_NAMES)}
    both = set(copies) & set(ids)
    assert both, "no section ids in _header.py"
    for name in both:  # _header.py's copies of the ids it uses
        assert int(copies[name]) == ids[name], name


def test_device_section_table_equals_the_hosts():
    buf = MODEL.read_bytes()
    h, secs = bf.check(buf)
    got = device_json(
        "import json\nfrom m2v import _header\n"
        f"f = open({str(MODEL)!r}, 'rb')\n"
        f"f.seek({bf.HEADER_SIZE})\n"
        f"t = _header.table(f.read({h.header_size - bf.HEADER_SIZE}), {h.header_size}, {len(buf)})\n"
        "print(json.dumps(t))\n"
    )
    assert got[0] is None
    assert {sid: tuple(v) for sid, v in enumerate(got) if sid} == secs


def test_device_load_keeps_the_writers_values():
    buf = MODEL.read_bytes()
    h, secs = bf.check(buf)
    code = f"""
import json, m2v
from m2v import _header
keep = [k for k in _header.KEEP if k]
out = {{}}
for mode in ("buf", "file"):
    m = m2v.load({str(MODEL)!r}, mode=mode)
    s = m._s
    out[mode] = {{
        "fields": dict((k, getattr(m, k)) for k in keep),
        "crc": m.crc,
        "sizes": [None] + [len(s[i]) if s[i] is not None else len(m.wcodes) * 2 for i in range(1, len(s))],
        "offsets": [None] + [getattr(s[i], "off", None) for i in range(1, len(s))],
    }}
print(json.dumps(out))
"""
    got = device_json(code)
    for mode in ("buf", "file"):
        g = got[mode]
        assert g["fields"] == {k: getattr(h, k) for k in g["fields"]}, mode
        assert len(g["fields"]) == 17
        assert g["crc"] == h.crc32
        assert {sid: g["sizes"][sid] for sid in secs} == {sid: n for sid, (_, n) in secs.items()}, mode
        # file mode: every streamed section at the file offset the table gives
        for sid, off in enumerate(g["offsets"]):
            if off is not None:
                assert mode == "file" and off == secs[sid][0], (mode, sid)
    assert any(o is not None for o in got["file"]["offsets"])
