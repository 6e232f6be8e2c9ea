"""Bad models and bad inputs on the board: the device package on the real unix MicroPython.

Corrupt binaries mirror tests/test_corrupt.py: a byte flipped
anywhere, truncation, empty, foreign, trailing junk, an unknown version, in
buffer mode (the ROMFS path), file mode (a real file, and io.BytesIO for the
many flip cases) and ROMFS itself. Every case must raise ValueError naming the
problem, never crash, hang or return a vector. Many cases run in one
MicroPython process: the script mutates one copy of the model in place.

With check_crc=False the file's contents are trusted (docs/API.md "Errors and
limits"): damage the header, section table or sizes checks can see still
raises ValueError; any other damage must not crash or hang, and either raises
ValueError or gives some vector.
"""

from __future__ import annotations

import json
import os
import random
import re
import struct
import zlib
from pathlib import Path

import pytest
from mpy import DEVICE, MODEL, native_device, romfs_image
from test_corrupt import expected_message, flip_offsets

from host_tools import binfmt as bf
from scripts.board import UnixBoard

SCALE = int(os.environ.get("M2V_FUZZ", "1"))  # make fuzz: more cases
TEXTS = ["turn on the kitchen lights", "Wie spät ist es?", "naïve café 😀 [CLS] x [SEP]", "日本語のテキスト"]

# Runs on MicroPython. CASES: [[name, kind, arg, check_crc], ...]; kinds:
#   flip  arg=[[offset, xor], ...]  buffer mode on the in-RAM copy, restored afterwards
#   fflip arg=[[offset, xor], ...]  file mode through io.BytesIO
#   path  arg=[path, mode]          m2v.load(path, check_crc, mode)
#   rom   arg=[image]               mount a ROMFS image, m2v.load('/rom/model.m2v')
DEVICE_SCRIPT = r"""
import sys, io, json
import m2v
from m2v.model import Model
good = bytearray(open(MODEL, 'rb').read())

def attempt(make, crc, mode=None):
    try:
        m = Model(make(), crc, mode, RAM)  # RAM 0: file mode reads every table through the page cache
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)
    try:
        h = 0
        for t in TEXTS:
            for x in m.embed(t):
                h = (h * 31 + x) & 0xFFFFFF
            m.tokenize(t)
        return 'OK %d' % h
    except Exception as e:
        return 'EMBED ' + type(e).__name__ + ': ' + str(e)
    finally:
        m.close()

out = open(OUT, 'w')
for name, kind, arg, crc in json.load(open(CASES)):
    if kind in ('flip', 'fflip'):
        for off, x in arg:
            good[off] ^= x
        if kind == 'flip':
            r = attempt(lambda: good, crc)
        else:
            r = attempt(lambda: io.BytesIO(good), crc)
        for off, x in arg:
            good[off] ^= x
    elif kind == 'path':
        r = attempt(lambda: arg[0], crc, arg[1])
    else:
        import vfs
        vfs.mount(vfs.VfsRom(open(arg[0], 'rb').read()), '/rom')
        r = attempt(lambda: None, crc)
        vfs.umount('/rom')
    out.write(json.dumps([name, r]) + '\n')
out.close()
"""


def run_cases(cases: list, tmp: Path, timeout: float = 600, dev: Path = DEVICE, ram: int | None = 0) -> dict[str, str]:
    """Run the cases in one MicroPython process with the package folder ``dev`` and the load's ``ram``."""
    (tmp / "cases.json").write_text(json.dumps(cases))
    out = tmp / "out.jsonl"
    code = (
        f"MODEL = {str(MODEL)!r}\nCASES = {str(tmp / 'cases.json')!r}\n"
        f"OUT = {str(out)!r}\nTEXTS = {TEXTS!r}\nRAM = {ram!r}\n" + DEVICE_SCRIPT
    )
    proc = UnixBoard(heap="8M", device=dev).run(code, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]  # a crash would end the process
    got = dict(json.loads(line) for line in out.read_text().splitlines())
    assert len(got) == len(cases), "the device stopped early"
    return got


@pytest.fixture(scope="module")
def good() -> bytes:
    return MODEL.read_bytes()


def with_crc(data: bytes | bytearray) -> bytes:
    b = bytearray(data)
    b[12:16] = struct.pack("<I", zlib.crc32(bytes(b[16:])) & 0xFFFFFFFF)
    return bytes(b)


def xors(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([0x01, 0x80, 0xFF, rng.randrange(1, 256)]) for _ in range(n)]


def test_flipped_bytes_buffer_and_file_mode(good, tmp_path, report):
    """Every header/table byte, both ends of every section, 200 seeded offsets: ValueError naming the damage."""
    offsets = flip_offsets(good)
    rng = random.Random(77)
    offsets += sorted(rng.randrange(len(good)) for _ in range(200 * (SCALE - 1)))
    x = xors(len(offsets), 99)
    cases = [[f"{kind} {off}", kind, [[off, v]], True] for off, v in zip(offsets, x) for kind in ("flip", "fflip")]
    got = run_cases(cases, tmp_path)
    bad = []
    for name, _kind, ((off, _),), _crc in cases:
        r = got[name]
        if not r.startswith("ValueError: ") or not re.search(expected_message(off), r):
            bad.append((name, r))
    report("device corrupt: flipped bytes rejected (buffer + file mode)", f"{len(cases) - len(bad)}/{len(cases)}")
    assert not bad, bad[:5]


def _files(good: bytes, model_dir: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    h = bf.unpack_header(good)
    out: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, match: str) -> None:
        p = tmp / f"{name}.m2v"
        p.write_bytes(data)
        out[name] = (p, match)

    for n in (0, 10, 63, 64, h.header_size, len(good) // 2, len(good) - 1):
        put(f"trunc{n}", good[:n], "shorter than the 64-byte header|truncated")
    put("empty", b"", "0 bytes")
    put("junk1", good + b"\0", "trailing")
    put("junk400", good + b"junk" * 100, "trailing")
    put("magic", with_crc(b"M2VX" + good[4:]), "magic")
    put("version2", with_crc(good[:4] + struct.pack("<H", 2) + good[6:]), "version 2")
    put("png", b"\x89PNG\r\n\x1a\n" + bytes(200), "magic")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        out[name] = (model_dir / name, "magic")
    return out


def test_bad_files_file_and_buffer_mode(good, model_dir, tmp_path, report):
    """Truncated at 7 lengths, empty, trailing junk, foreign files, wrong magic, version 2: ValueError, in both modes."""
    files = _files(good, model_dir, tmp_path)
    cases = [[f"{n} {mode} {crc}", "path", [str(p), mode], crc]
             for n, (p, _) in files.items() for mode in ("file", "buf") for crc in (True, False)]  # fmt: skip
    got = run_cases(cases, tmp_path)
    bad = [(c[0], got[c[0]]) for c in cases
           if not (got[c[0]].startswith("ValueError: ") and re.search(files[c[0].split()[0]][1], got[c[0]]))]  # fmt: skip
    report("device corrupt: bad files rejected (file + buffer mode, CRC on and off)", f"{len(cases) - len(bad)}/{len(cases)}")
    assert not bad, bad[:5]


def test_romfs_mode(good, tmp_path, report):
    """The ROMFS path (memoryview of flash): a good model loads; flipped, truncated or foreign ones raise ValueError."""
    rng = random.Random(3)
    variants = {"good": good, "trunc": good[: len(good) // 2], "junk": good + b"x", "png": b"\x89PNG" + bytes(100)}
    for _ in range(6):
        off = rng.randrange(len(good))
        b = bytearray(good)
        b[off] ^= 0x5A
        variants[f"flip{off}"] = bytes(b)
    cases = []
    for name, data in variants.items():
        src = tmp_path / name
        src.mkdir()
        (src / "m.m2v").write_bytes(data)
        romfs_image(src / "m.m2v", tmp_path / f"{name}.img")
        cases.append([name, "rom", [str(tmp_path / f"{name}.img")], True])
    got = run_cases(cases, tmp_path)
    assert got.pop("good").startswith("OK ")
    bad = {k: v for k, v in got.items() if not v.startswith("ValueError: ")}
    report("device corrupt: ROMFS images rejected", f"{len(got) - len(bad)}/{len(got)}")
    assert not bad, bad


# ------------------------------------------------------------ check_crc=False


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_sections", 12), ("header_size", 64), ("dims", 255), ("n_centroids", 1999), ("weight_bits", 6),
     ("mult_max", 16000), ("max_length", 2048), ("norm_bits", 16), ("rec_bits", 34), ("id_bits", 16),
     ("n_nodes", 62794), ("n_records", 29185), ("sample_bytes", 3), ("h_shift", 2), ("esc_base", 63),
     ("max_word_chars", 0), ("file_size", 1000)],
)  # fmt: skip
def test_header_damage_without_crc_caught_by_structure(good, field, value, tmp_path):
    """check_crc=False: a wrong header field is still caught by the structural checks (one process per field)."""
    h = bf.unpack_header(good)
    setattr(h, field, value)
    data = bf.pack_header(h) + good[64:]
    p = tmp_path / "m.m2v"
    p.write_bytes(data)
    got = run_cases([[f"{m}", "path", [str(p), m], False] for m in ("file", "buf")], tmp_path)
    for r in got.values():
        assert r.startswith("ValueError: ") and "m2v model" in r, r


def test_section_table_damage_without_crc(good, tmp_path, report):
    """check_crc=False: every byte of the section table flipped: ValueError (or a harmless load for padding bytes)."""
    h, secs = bf.check(good)
    offs = list(range(64, h.header_size))
    x = xors(len(offs), 5)
    cases = [[f"t{o}", "flip", [[o, v]], False] for o, v in zip(offs, x)]
    got = run_cases(cases, tmp_path)
    ok = [k for k, r in got.items() if not r.startswith("ValueError: ")]
    bad = {k: r for k, r in got.items() if not r.startswith(("ValueError: ", "OK ", "EMBED ValueError: "))}
    report("device check_crc=False: section-table flips rejected at load / loaded", f"{len(got) - len(ok)} / {len(ok)}")
    assert not bad, list(bad.items())[:5]
    # the only loads: size bytes that still leave the section inside the file but whose size is not checked
    # (NORM_POOL, ADDED, GSTART have content-dependent sizes) or offsets that moved within padding
    assert len(ok) <= len(offs) // 4


@pytest.mark.parametrize("core", ["py", "native"])
def test_random_damage_without_crc_never_crashes_or_hangs(good, tmp_path, report, core):
    """check_crc=False, seeded random damage in every section: each case ends in ValueError or a vector, never a crash or hang.

    ``native``: the package with the x64 C core, file mode with its tables in RAM (ram=None), so that
    the C tokenizer, its RAM tables, its one-call embed and its file-mode pooling all read the damage.
    """
    h, secs = bf.check(good)
    rng = random.Random(11)
    cases = []
    for sid, (off, size) in sorted(secs.items()):
        for k in range(8 * SCALE):
            n = rng.choice([1, 1, 2, 8])
            flips = [[off + rng.randrange(size), rng.randrange(1, 256)] for _ in range(n)]
            cases.append([f"s{sid}.{k}", rng.choice(["flip", "fflip"]), flips, False])
    if core == "native":
        got = run_cases(cases, tmp_path, timeout=900, dev=native_device(tmp_path / "dev"), ram=None)
    else:
        got = run_cases(cases, tmp_path, timeout=900)
    kinds = {"ValueError": 0, "OK": 0, "EMBED ValueError": 0}
    bad = {}
    for k, r in got.items():
        tag = "OK" if r.startswith("OK ") else r.split(":")[0]
        if tag in kinds:
            kinds[tag] += 1
        else:
            bad[k] = r
    report(f"device check_crc=False, {core}: random damage (load ValueError / embed ValueError / vector)",
           f"{kinds['ValueError']} / {kinds['EMBED ValueError']} / {kinds['OK']} of {len(got)}")  # fmt: skip
    assert not bad, list(bad.items())[:5]


# ------------------------------------------------------------ inputs


def test_wrong_inputs_and_empty_texts(tmp_path):
    """Non-strings raise TypeError (bytes too: decode first); empty or whitespace-only text gives the zero vector."""
    code = f"""
import m2v
for mode in ('file', 'buf'):
    m = m2v.load({str(MODEL)!r}, mode=mode)
    for v in (5, None, ['a list'], b'bytes', bytearray(b'x'), 3.5):
        for fn in (m.embed, m.tokenize):
            try:
                fn(v)
                print('NO ERROR', mode, repr(v))
            except TypeError as e:
                print('TypeError', mode, 'must be str' in str(e))
    for t in ('', ' ', '\\t\\n', '\\u200b', '[UNK]', '   \\u3000  '):
        v = m.embed(t)
        print('ZERO', mode, repr(t), not any(v), m.tokenize(t) == [])
    m.close()
"""
    proc = UnixBoard(heap="2M").run(code, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert not [x for x in lines if x.startswith("NO ERROR")]
    assert lines.count("TypeError file True") == 12 and lines.count("TypeError buf True") == 12
    zero = [x for x in lines if x.startswith("ZERO")]
    assert len(zero) == 12 and all(x.endswith("True True") for x in zero), zero
