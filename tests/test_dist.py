"""scripts/build_dist.py: .mpy for every target; the x64 build runs on the unix port."""

import json
import subprocess
import sys
from pathlib import Path

from mpy import MODEL

from host_tools import reference
from scripts.board import UnixBoard
from scripts.mpy_arch import ARCHS

ROOT = Path(__file__).resolve().parent.parent

TEXT = "The quick brown fox jumps over the lazy dog; café déjà vu 42!"


def test_dist_builds_and_runs(tmp_path):
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.build_dist", "--out", str(out)],  # default: every one of ARCHS
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.stem for p in (ROOT / "device" / "m2v").glob("*.py"))
    for arch in ARCHS:
        got = sorted(p.stem for p in (out / f"{arch}_6.3" / "m2v").glob("*.mpy"))
        want = sorted(names + ["_native"])  # every architecture's package carries its C core (firmware_assets/native)
        assert got == want, arch
        for name in want:
            head = (out / f"{arch}_6.3" / "m2v" / f"{name}.mpy").read_bytes()[:2]
            assert head == b"M\x06", (arch, name, head)
        native = (out / f"{arch}_6.3" / "m2v" / "_native.mpy").read_bytes()
        assert native == (ROOT / "firmware_assets" / "native" / arch / "_native.mpy").read_bytes(), arch
        pkg = json.loads((out / f"{arch}_6.3" / "package.json").read_text())  # mip installs from it
        assert pkg["urls"] == [[f"m2v/{n}.mpy", f"m2v/{n}.mpy"] for n in want], arch
    assert sorted(p.name for p in out.glob("*_6.3")) == sorted(f"{a}_6.3" for a in ARCHS)

    code = (
        "import m2v\n"
        "assert m2v.__file__.endswith('.mpy'), m2v.__file__\n"
        f"m = m2v.load({str(MODEL)!r}, mode='file', ram=0)\n"  # through the page cache
        f"print(' '.join(str(x) for x in m.embed({TEXT!r})))\n"
        "assert m.impl['tok'] == m.impl['pool'] == 'native' and m.ram_tables == 0, m.impl\n"  # C through the cache
    )
    run = UnixBoard(heap="512K", device=out / "x64_6.3").run(code, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    got = [int(x) for x in run.stdout.split()]
    assert got == [int(x) for x in reference.load(MODEL).embed(TEXT)]


def test_dist_fails_clearly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.build_dist", "--out", str(tmp_path), "nosucharch"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "mpy-cross failed" in proc.stderr


def test_two_builds_at_once_into_one_folder(tmp_path):
    """Parallel test workers (and two `make flash` runs) build into one dist/: each build ends whole."""
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "scripts.build_dist", "--out", str(out), "x64"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _ in results] == [0, 0, 0], results
    names = sorted(p.stem for p in (ROOT / "device" / "m2v").glob("*.py"))
    assert sorted(p.stem for p in (out / "x64_6.3" / "m2v").glob("*.mpy")) == sorted(names + ["_native"])
    assert sorted(p.name for p in out.iterdir()) == [".x64.lock", "x64_6.3"]  # no stage folder left
