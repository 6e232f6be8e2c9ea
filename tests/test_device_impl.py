"""The implementation choice on the device is strict and observable.

Two kinds run each hot path: ``native`` (the C core, m2v/_native.mpy) and ``py`` (the
pure-Python twins), selected together by ``m2v.use``. Each is broken in turn in a copy of
the package (a twin module whose import raises, a C core that does not load), and the parity
runner is run in every mode: the runs of that kind must fail, the others must still give the
reference's token ids and vectors and report (through ``model.impl``) the kind they were asked
for. Where no C core loads (the source package on the unix port) the default runs the twins
and says so: one line at the first load and ``model.impl``; ``m2v.use("native")`` refuses.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from mpy import DEVICE, MODEL, native_device, run_device
from truth import Truth, corpus

from host_tools import reference
from scripts.board import UnixBoard

# (mode, impl) as tests/device_runner.py takes them: every mode with each kind
CONFIGS = [(mode, impl) for mode in ("rom", "file", "fileram") for impl in ("native", "py")]
# what breaks each kind: a twin module whose import raises, or a C core that does not load
BROKEN = {"_tok_py": "py", "_pool_py": "py", "_native": "native"}


TEXTS = corpus()[::1500] + ["héllo wörld, 東京 가나다 ﬁne Ⅻ", "[UNK] turn on the kitchen lights"]


@pytest.fixture(scope="module")
def want():
    ref = reference.load(MODEL)
    return Truth().ids(TEXTS), [ref.embed(t) for t in TEXTS]


def assert_parity(got, want) -> None:
    ids, vecs = want
    assert [g[0] for g in got] == ids
    assert all(np.array_equal(g[1], v) for g, v in zip(got, vecs))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_breaking_a_kind_fails_exactly_its_runs(tmp_path, want, name):
    dev = native_device(tmp_path / "dev")  # the package with the C core, as a build for the unix port has
    if name == "_native":  # a build for no architecture there is: "incompatible .mpy" at import
        (dev / "m2v" / "_native.mpy").write_bytes(b"M\x06\xfe\x1f" + bytes(60))
    else:
        (dev / "m2v" / f"{name}.py").write_text('raise ImportError("broken on purpose")\n')
    failed = set()
    for mode, impl in CONFIGS:
        try:
            got = run_device(TEXTS, mode=mode, impl=impl, device=dev, workers=1)
        except RuntimeError as e:
            # the import raised out of the runner, or m2v.use("native") refused a C core that does not load
            assert "broken on purpose" in str(e) or "the C core does not load" in str(e), str(e)[-500:]
            failed.add((mode, impl))
            continue
        assert_parity(got, want)  # a run of the other kind is untouched
    assert failed == {(m, i) for m, i in CONFIGS if i == BROKEN[name]}


def test_intact_package_runs_every_mode(want):
    # the control: the same runs on the package as it is (run_device checks model.impl)
    for mode, impl in CONFIGS:
        assert_parity(run_device(TEXTS, mode=mode, impl=impl, workers=1), want)


def run_snippet(dev: Path, code: str) -> subprocess.CompletedProcess:
    return UnixBoard(heap=None, device=dev).run(code, timeout=120)


LOADS = f"""
import m2v, m2v.tok
for mode in ("buf", "file"):
    m = m2v.load({str(MODEL)!r}, mode=mode, ram=0)  # file mode: through the page cache
    print("impl", m.impl["tok"], m.impl["pool"])
    v = m.embed("turn on the lights")
    print("ran", m.impl["tok"], m.impl["pool"], m.impl["loop"], " ".join(str(x) for x in v))
print(sorted(k for k in sys.modules if k.startswith("m2v.")))
try:
    m2v.use("native")
    print("use native: accepted")
except ValueError as e:
    print("use native:", e)
"""


def test_without_the_c_core_the_twin_runs_and_says_so(want):
    # the source package on the unix port (no _native.mpy, as a source install): one line at the first load
    proc = run_snippet(DEVICE, LOADS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    vec = " ".join(str(x) for x in reference.load(MODEL).embed("turn on the lights"))
    why = "no build of the C core for x64"
    # one line, once (the second load says nothing), on stderr: the console on a board
    assert proc.stderr.splitlines() == [f"m2v: C core not loaded ({why}); running the pure-Python twin"]
    assert lines[:4] == ["impl py py", "ran py py py " + vec] * 2
    assert "m2v._tok_py" in lines[4] and "m2v._pool_py" in lines[4], lines[4]
    assert lines[5] == f"use native: the C core does not load: {why}"


def test_with_the_c_core_it_runs_by_default(tmp_path):
    proc = run_snippet(native_device(tmp_path), LOADS)
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [" ".join(x.split()[:4]) for x in lines[:4]] == ["impl native native", "ran native native native"] * 2
    assert "_tok_py" not in lines[4] and "_pool_py" not in lines[4], lines[4]  # no twin imported, no line printed
    assert lines[5] == "use native: accepted"


def test_native_refuses_an_out_that_is_not_int16(tmp_path):
    # the C call refuses out when it is not an array("h"): the embed must not then pool int16s into it
    code = (f"import m2v\nfrom array import array\nm = m2v.load({str(MODEL)!r}, mode='file', ram=0)\n"
            "try:\n    m.embed_into('turn on the lights', array('i', bytes(4 * m.dims)))\n    print('no error')\n"
            "except ValueError as e:\n    print(e)\n")  # fmt: skip
    proc = run_snippet(native_device(tmp_path), code)
    assert proc.stdout.splitlines() == ["out must be an array('h')"], proc.stdout + proc.stderr


def test_unknown_kind_is_refused():
    for kind in ('"viper"', '"fast"'):
        proc = run_snippet(DEVICE, f"import m2v\ntry:\n    m2v.use({kind})\nexcept ValueError as e:\n    print(e)\n")
        assert proc.stdout.strip() == "kind must be 'native', 'py' or None", proc.stdout + proc.stderr


ENTRY = f"""
import m2v
from array import array
m = m2v.load({str(MODEL)!r})
ref = list(m.embed("turn on the lights"))
out = array("h", bytes(2 * m.dims))
def run(f):
    try:
        return "ok" if list(f()) == ref else "wrong vector"
    except TypeError:
        return "TypeError"
print(type(m.embed_into).__name__)
for kind in ("py", "native"):  # the kind switched after the load: the model's entry follows it
    m2v.use(kind)
    print(kind, run(lambda: m.embed_into("turn on the lights", out)), m.impl["loop"],
          run(lambda: m.embed_into(out=out, text="turn on the lights")),
          run(lambda: m.embed_into("turn on the lights", out, 1)), run(lambda: m.embed_into(text="x", o=out)))
"""


@pytest.mark.parametrize("core", ["native", "py"])
def test_embed_into_entry_follows_the_kind(tmp_path, core):
    # a model's embed_into: the C core's Entry (no Python frame) where the C core is imported, else
    # the Python closure; either runs the kind m2v.use selects, and takes text and out by name
    proc = run_snippet(native_device(tmp_path) if core == "native" else DEVICE, ENTRY)
    lines = proc.stdout.splitlines()
    assert lines[0] == ("Entry" if core == "native" else "closure"), proc.stdout + proc.stderr
    assert lines[1] == "py ok py ok TypeError TypeError", lines
    if core == "native":
        assert lines[2] == "native ok native ok TypeError TypeError", lines
    else:  # no C core in the source package: use("native") refuses, the closure goes on with the twin
        assert "the C core does not load" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
