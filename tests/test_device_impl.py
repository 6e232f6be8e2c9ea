"""The implementation choice on the device is strict and observable.

Every hot-path core module of the device package is broken in turn (its
import raises) in a copy of the package, and the parity runner is run in
every mode: the modes whose selection uses that module must fail, the others
must still give the reference's token ids and vectors and report (through
``model.impl``) the implementation they were asked for. A port without viper
is simulated (tok.VIPER False, the viper modules raising what such a port
raises): the package then runs its pure-Python twins without touching a viper
module, says so, and refuses ``use("viper")``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mpy import DEVICE, MODEL, micropython, run_device
from truth import Truth, corpus

from host_tools import reference

# (mode, impl) as tests/device_runner.py takes them: every mode with each tokenizer and pooling kind
CONFIGS = [
    ("rom", "viper"), ("rom", "py"), ("file", "viper"), ("file", "py"),
    ("fileram", "viper"), ("fileram", "py"), ("fileram", "py/viper"), ("fileram", "viper/py"),
]  # fmt: skip
CORES = ["_tok_buf", "_tok_file", "_tok_py", "_pool_viper", "_pool_py"]


def uses(mode: str, impl: str) -> set[str]:
    """The modules the selection ``impl`` promises in ``mode`` (m2v/_cores.py's table, written out)."""
    tok, _, pool = impl.partition("/")
    pool = pool or tok
    mods = {"_tok_buf", "_tok_file"} if tok == "viper" else {"_tok_py"}
    mods |= {"_pool_viper"} if pool == "viper" else {"_pool_py", "_tok_py"}  # _pool_py decodes through _tok_py.bits
    if pool == "viper" and mode != "rom":
        mods.add("_tok_file")  # file mode pools a batch through the page cache: _tok_file.acc_recs_f
    return mods


def package_with(tmp: Path, name: str, body: str) -> Path:
    """A copy of the device package with m2v/<name>.py replaced by ``body``; returns the folder holding m2v."""
    dev = tmp / f"dev_{name}"
    shutil.copytree(DEVICE / "m2v", dev / "m2v")
    (dev / "m2v" / f"{name}.py").write_text(body)
    return dev


TEXTS = corpus()[::1500] + ["héllo wörld, 東京 가나다 ﬁne Ⅻ", "[UNK] turn on the kitchen lights"]


@pytest.fixture(scope="module")
def want():
    ref = reference.load(MODEL)
    return Truth().ids(TEXTS), [ref.embed(t) for t in TEXTS]


def assert_parity(got, want) -> None:
    ids, vecs = want
    assert [g[0] for g in got] == ids
    assert all(np.array_equal(g[1], v) for g, v in zip(got, vecs))


@pytest.mark.parametrize("name", CORES)
def test_breaking_a_core_fails_exactly_the_modes_that_use_it(tmp_path, want, name):
    dev = package_with(tmp_path, name, 'raise ImportError("broken on purpose by tests/test_device_impl.py")\n')
    failed = set()
    for mode, impl in CONFIGS:
        try:
            got = run_device(TEXTS, mode=mode, impl=impl, device=dev, workers=1)
        except RuntimeError as e:
            # the import raised out of the runner, or model.impl shows that a stage did not run
            assert "broken on purpose" in str(e) or "device ran" in str(e), str(e)[-500:]
            failed.add((mode, impl))
            continue
        errors = [g for g in got if isinstance(g, str)]
        if errors:  # the import raised inside embed: every text reports it
            assert all("broken on purpose" in g for g in errors), errors[:2]
            failed.add((mode, impl))
            continue
        assert_parity(got, want)  # a mode that does not use the module is untouched by it
    assert failed == {(m, i) for m, i in CONFIGS if name in uses(m, i)}


def test_intact_package_runs_every_mode(want):
    # the control: the same runs on the package as it is (run_device checks model.impl)
    for mode, impl in CONFIGS:
        assert_parity(run_device(TEXTS, mode=mode, impl=impl, workers=1), want)


# what importing a viper module raises on a port without the native emitter (py/compile.c)
NO_VIPER = 'raise SyntaxError("invalid micropython decorator")\n'


def run_snippet(dev: Path, code: str) -> subprocess.CompletedProcess:
    pre = f"import sys\nsys.path.insert(0, {str(dev)!r})\n"
    return subprocess.run([micropython(), "-c", pre + code], capture_output=True, text=True, timeout=120)


def package_without_viper(tmp: Path) -> Path:
    """The package as a port without viper sees it.

    tok.VIPER (read from sys.implementation._mpy) is False there, and importing a viper module raises
    what such a port raises: the viper modules are replaced by that, so any import of one fails the run.
    """
    dev = package_with(tmp, "_tok_buf", NO_VIPER)
    for name in ("_tok_file", "_pool_viper"):
        (dev / "m2v" / f"{name}.py").write_text(NO_VIPER)
    model = dev / "m2v" / "tok.py"
    text = model.read_text()
    line = next(x for x in text.splitlines() if x.startswith("VIPER = "))
    model.write_text(text.replace(line, "VIPER = False"))
    return dev


def test_port_without_viper_runs_the_python_twins(tmp_path, want):
    dev = package_without_viper(tmp_path)
    text = TEXTS[-2]
    code = f"""
import m2v, m2v.pool, m2v.tok
for mode in ("buf", "file"):
    m = m2v.load({str(MODEL)!r}, mode=mode, ram=0)  # file mode: through the page cache
    v = m.embed({text!r})
    print(mode, m.impl["tok"], m.impl["pool"], "buf" if m.tok.bufs else "file", " ".join(str(x) for x in v))
for mod in (m2v.tok, m2v.pool):
    try:
        mod.use("viper")
        print("use viper: accepted")
    except ValueError as e:
        print("use viper:", e)
print(sorted(k for k in sys.modules if k.startswith("m2v.")))
"""
    proc = run_snippet(dev, code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    vec = " ".join(str(x) for x in want[1][-2])
    assert lines[0] == "buf py py buf " + vec
    assert lines[1] == "file py py file " + vec
    assert lines[2:4] == ["use viper: viper is not available on this port"] * 2
    assert not any(x in lines[4] for x in ("_tok_buf", "_tok_file", "_pool_viper")), lines[4]


def test_viper_detection_on_this_port():
    # the unix port (x64) has a native architecture: tok.VIPER is True and the default is viper
    proc = run_snippet(DEVICE, "import m2v.tok\nprint(m2v.tok.VIPER, (sys.implementation._mpy >> 10) & 63)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "2"]  # MP_NATIVE_ARCH_X64 (py/persistentcode.h)


def test_port_with_viper_picks_viper_by_default():
    code = f"""
import m2v
for mode in ("buf", "file"):
    m = m2v.load({str(MODEL)!r}, mode=mode, ram=0)  # file mode: through the page cache
    m.embed("turn on the lights")
    print(mode, m.impl["tok"], m.impl["pool"], "buf" if m.tok.bufs else "file")
print(sorted(k for k in sys.modules if k.startswith("m2v.")))
"""
    proc = run_snippet(DEVICE, code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["buf viper viper buf", "file viper viper file"]
    assert "_tok_py" not in lines[2] and "_pool_py" not in lines[2], lines[2]


def test_unknown_kind_is_refused():
    proc = run_snippet(DEVICE, 'import m2v.tok\ntry:\n    m2v.tok.use("fast")\nexcept ValueError as e:\n    print(e)\n')
    assert proc.stdout.strip() == "impl must be 'native', 'viper' or 'py'", proc.stdout + proc.stderr
