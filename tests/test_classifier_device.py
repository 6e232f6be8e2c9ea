"""On-device classification (unix MicroPython) against the host twin, bit for bit.

The smart-home classifier (examples/smart_home/intents.jsonl, rejection on)
classifies the held-out phrasings, the out-of-domain phrasings and a few edge
texts on the real unix port, through the very script a board runs
(tests/device/classify.py): from a file in the working directory (file mode)
and from a mounted ROMFS image (in place). Its label and integer score must
equal ``host_tools.classifier.Classifier.predict`` on every text. Scores of
every class, vector inputs, the pure-Python scan, bad files and a foreign
model are checked through small snippets.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from mpy import MODEL
from test_index_device import romfs

from host_tools import classifier as hc
from host_tools import index as hindex
from host_tools import reference
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "smart_home"
SCRIPT = ROOT / "tests" / "device" / "classify.py"
EDGE = ["", "   ", "lights!!! ON — now, s'il vous plaît", "Licht an im Wohnzimmer", "x" * 3000, "ok " * 400]


@pytest.fixture(scope="module")
def ref():
    return reference.load(MODEL)


@pytest.fixture(scope="module")
def clf_path(tmp_path_factory, ref) -> Path:
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    path = tmp_path_factory.mktemp("clf") / "clf.m2vc"
    path.write_bytes(hc.train(ref, items, c=30.0, reject=0.1))
    return path


@pytest.fixture(scope="module")
def texts() -> list[str]:
    held = [t for _, t in hindex.read_items(EX / "heldout.jsonl", need_label=True)]
    ood = [json.loads(line)["text"] for line in (EX / "out_of_domain.jsonl").read_text().splitlines() if line]
    return held + ood + EDGE


def run_script(root: Path, mode: str, timeout: float = 900) -> list[str]:
    """Run tests/device/classify.py with the package on sys.path; cwd = root (file) or /rom (ROMFS image)."""
    if mode == "file":
        board, cwd = UnixBoard(heap="256K"), root
    else:
        board = UnixBoard(heap="4M", rom={n: root / n for n in ("model.m2v", "clf.m2vc", "clf_texts.jsonl")})
        cwd = root / "elsewhere"  # no clf.m2vc here: the script must find /rom
        cwd.mkdir(exist_ok=True)
    with board:
        proc = board.run_script(SCRIPT, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def board_root(tmp: Path, clf: Path, texts: list[str]) -> Path:
    shutil.copy(MODEL, tmp / "model.m2v")
    shutil.copy(clf, tmp / "clf.m2vc")
    (tmp / "clf_texts.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
    return tmp


@pytest.mark.parametrize("mode", ["file", "rom"])
def test_script_predictions_equal_host(tmp_path, clf_path, texts, ref, mode, report):
    host = hc.Classifier(clf_path, model=ref)
    want = [f"{lab}\t{s}" for lab, s in (host.predict(t) for t in texts)]
    lines = run_script(board_root(tmp_path, clf_path, texts), mode)
    assert lines[-1] == f"classify: {len(texts)} texts"
    got = lines[:-1]
    bad = [(texts[i][:50], g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert len(got) == len(texts) and not bad, bad[:3]
    rejected = sum(w.startswith("None\t") for w in want)
    report(
        f"classifier parity {mode} (tests/device/classify.py)",
        f"{len(texts)} texts, 0 differences in label and score ({rejected} rejected)",
    )


SNIPPET = r"""
import json, m2v
import m2v._rows as rows
mode, impl = {mode!r}, {impl!r}
m2v.use(impl)  # the model's tokenizer and pooling and the classifier's scan
if mode == "rom":
    import vfs
    vfs.mount(vfs.VfsRom(open({image!r}, "rb").read()), "/rom")
    model = m2v.load("/rom/model.m2v")
    clf = m2v.Classifier("/rom/clf.m2vc", model=model)
else:
    model = m2v.load({model!r}, mode="file")
    clf = m2v.Classifier({clf!r}, model=model, mode="file", buf_bytes={buf})
assert (rows.scan() is rows._scan_py) == (impl == "py"), "the scan selected is not the one that runs"
for q in json.loads(open({queries!r}).read()):
    try:
        print(json.dumps([[lab, s] for lab, s in clf.scores(q)] + [list(clf.predict(q))]))
    except ValueError as e:
        print(json.dumps("!ValueError: " + str(e)))
"""


def run_snippet(tmp: Path, clf: Path, queries: list, mode: str, impl: str, buf: int = 1024) -> list:
    (tmp / "q.json").write_text(json.dumps(queries), encoding="utf-8")
    image = tmp / "img.romfs"
    if mode == "rom":
        romfs({"model.m2v": MODEL, "clf.m2vc": clf}, image)
    code = SNIPPET.format(
        mode=mode, impl=impl, image=str(image), model=str(MODEL), clf=str(clf), queries=str(tmp / "q.json"), buf=buf
    )
    proc = UnixBoard(heap="4M", native=impl == "native").run(code, timeout=900)  # the x64 build's C core, or none
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def host_rows(host: hc.Classifier, queries: list) -> list:
    out = []
    for q in queries:
        try:
            out.append([[lab, s] for lab, s in host.scores(q)] + [list(host.predict(q))])
        except ValueError as e:
            out.append("!ValueError: " + str(e))
    return out


@pytest.mark.parametrize("mode, impl, buf", [("rom", "native", 0), ("file", "native", 1024), ("file", "py", 600)])
def test_scores_texts_and_vectors(tmp_path, clf_path, texts, ref, mode, impl, buf):
    """Every class's score, texts and int16 vectors (zero, one-hot, random, too large), C core and pure Python.

    buf 600 streams the weights two rows per read (13 classes: a short last chunk).
    """
    host = hc.Classifier(clf_path, model=ref)
    rng = np.random.default_rng(3)
    d = host.dims
    vecs = [[0] * d, [16384] + [0] * (d - 1), [-16384] + [0] * (d - 1)]
    vecs += [[int(x) for x in rng.integers(-1500, 1501, d)] for _ in range(4)]
    # the extremes of int16 (for D = 256 no int16 vector exceeds l1_max), then out of int16 and the wrong length:
    vecs += [[32767] * d, [-32768] * d, [40000] + [0] * (d - 1), [1, 2, 3]]
    queries = texts[::4] + vecs
    want = host_rows(host, queries)
    assert 256 * 32768 <= host.l1_max and not isinstance(want[-3], str)
    assert want[-2] == "!ValueError: query vector components must fit int16"
    assert want[-1] == "!ValueError: query vector must be 256 integers"
    got = run_snippet(tmp_path, clf_path, queries, mode, impl, buf)
    bad = [(str(q)[:40], g, w) for q, g, w in zip(queries, got, want) if g != w]
    assert len(got) == len(queries) and not bad, bad[:2]


def _mutations(data: bytes) -> list[tuple[str, bytes, str]]:
    def with_crc(b: bytearray) -> bytes:
        struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:])))
        return bytes(b)

    flags = bytearray(data)
    flags[52] = 2
    bias = bytearray(data)
    off = struct.unpack_from("<I", data, 36)[0]
    struct.pack_into("<i", bias, off, (1 << 28) + 1)
    return [
        ("truncated", data[:-4], "truncated m2v classifier"),
        ("trailing", data + b"\0\0\0\0", "trailing data"),
        ("magic", b"M2VI" + data[4:], "not an m2v classifier: bad magic"),
        ("version", data[:4] + b"\x02\x00" + data[6:], "unsupported m2v classifier version 2"),
        ("crc", data[:100] + bytes([data[100] ^ 1]) + data[101:], "CRC-32 mismatch"),
        ("short", data[:30], "shorter than the 64-byte header"),
        ("empty", b"", "shorter than the 64-byte header"),
        ("flags", with_crc(flags), "bad header size, flags or reserved fields"),
        ("bias", with_crc(bias), "bias out of range"),
    ]


def test_bad_files_rejected_on_the_board(tmp_path, clf_path):
    """Corrupt, truncated, foreign and wrong-version files raise ValueError with the host's message, both modes."""
    cases = _mutations(clf_path.read_bytes())
    for name, data, _ in cases:
        (tmp_path / f"{name}.m2vc").write_bytes(data)
    code = (
        "import m2v\n"
        f"for name in {[c[0] for c in cases]!r}:\n"
        "    for mode in ('file', 'buf'):\n"
        "        try:\n"
        f"            m2v.Classifier({str(tmp_path)!r} + '/' + name + '.m2vc', mode=mode)\n"
        "            print(name, mode, 'accepted')\n"
        "        except ValueError as e:\n"
        "            print(name, mode, 'ValueError', e)\n"
    )
    proc = UnixBoard(heap="1M").run(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 * len(cases)
    for (name, data, message), i in zip(cases, range(0, len(lines), 2)):
        with pytest.raises(ValueError, match=message):
            hc.Classifier(data)
        for line in lines[i : i + 2]:
            assert line.startswith(f"{name} ") and " ValueError " in line and message in line, line


def test_text_with_another_model_is_refused_on_the_board(tmp_path, clf_path):
    """The classifier remembers its model's CRC-32: another model's text query is refused, a vector is not."""
    other = tmp_path / "other.m2v"
    data = bytearray(MODEL.read_bytes())
    data[16] ^= 1  # the informational flags field: another model file with the same shape
    data[12:16] = (zlib.crc32(bytes(data[16:])) & 0xFFFFFFFF).to_bytes(4, "little")
    other.write_bytes(bytes(data))
    code = (
        "import m2v\n"
        f"c = m2v.Classifier({str(clf_path)!r}, model=m2v.load({str(MODEL)!r}))\n"
        "print('same', c.predict('turn off the lights')[0])\n"
        f"c = m2v.Classifier({str(clf_path)!r}, model=m2v.load({str(other)!r}))\n"
        "print('vector', c.predict([0] * 256)[1])\n"
        "try:\n"
        "    c.predict('turn off the lights')\n"
        "    print('accepted')\n"
        "except ValueError as e:\n"
        "    print('refused', e)\n"
    )
    proc = UnixBoard(heap="2M").run(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    lines = proc.stdout.splitlines()
    host = hc.Classifier(clf_path)
    assert lines[0] == "same lights_off"
    assert lines[1] == f"vector {host.predict([0] * 256)[1]}"
    assert lines[2].startswith("refused the classifier was built with model crc32")
    with pytest.raises(ValueError, match="the classifier was built with model crc32"):
        hc.Classifier(clf_path, model=other).predict("turn off the lights")


def test_heap_of_a_prediction(tmp_path, clf_path, report):
    """An open classifier keeps a few hundred bytes; a prediction on a vector allocates almost nothing."""
    code = (
        "import gc\nimport m2v, m2v.classifier\n"
        f"model = m2v.load({str(MODEL)!r}, mode='file')\nv = model.embed('dim the lights a little')\n"
        "for mode in ('file', 'buf'):\n"
        "    gc.collect(); a = gc.mem_alloc()\n"
        f"    c = m2v.Classifier({str(clf_path)!r}, model=model, mode=mode)\n"
        "    gc.collect(); kept = gc.mem_alloc() - a\n"
        "    c.predict(v)\n"
        "    gc.collect(); a = gc.mem_alloc()\n"
        "    c.predict(v)\n"
        "    per = gc.mem_alloc() - a\n"
        "    print(mode, kept, per)\n"
        "    c.close()\n"
    )
    proc = UnixBoard(heap="1M").run(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    for line in proc.stdout.splitlines():
        mode, kept, per = line.split()
        report(f"classifier heap ({mode} mode, 13 classes, source package)", f"{kept} B kept open, {per} B per predict")
        assert int(kept) < (8192 if mode == "file" else 4096) and int(per) < 1024
