"""The newcomer's route, without make: `pip install .` into a fresh venv, then the `m2v` command.

A copy of the repository's tracked files (a fresh clone, uncommitted edits
included) is built into a wheel with the shared venv's setuptools (no
download) and installed with ``--no-deps`` into a new, empty venv; the
dependencies come from the shared venv's site-packages through a ``.pth``
file, after the new venv's own (so ``host_tools`` is the installed wheel's,
never the repository's: every command runs outside the repository). Then
``m2v --help``, ``m2v convert`` of the default model folder (byte-identical to
the committed binary) and ``m2v flash`` to the unix virtual board, which
compiles the package from the wheel's copy and shows its progress.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest
from mpy import MODEL

import host_tools

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd}: exit {p.returncode}\n{p.stdout[-3000:]}{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory, report) -> Path:
    """The bin folder of a fresh venv with `pip install .` of the repository done in it."""
    t0 = time.monotonic()
    tmp = tmp_path_factory.mktemp("newcomer")
    clone = tmp / "clone"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        src = ROOT / f.decode()
        if src.is_file():  # tracked files deleted in the worktree are skipped
            (clone / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / f.decode())
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "wheel", "."],
        cwd=clone)  # fmt: skip
    wheel = next((tmp / "wheel").glob("*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", wheel], cwd=tmp)
    site = run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip()
    Path(site, "zz_shared_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    report("newcomer: copy + wheel build + install into a fresh venv (s)", f"{time.monotonic() - t0:.1f}")
    return env_dir / "bin"


def m2v(bindir: Path, *args, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return run([bindir / "m2v", *args], cwd=cwd, env=env, timeout=timeout)


def test_help_version_and_every_subcommand_has_an_example(installed, tmp_path):
    top = m2v(installed, "--help", cwd=tmp_path).stdout
    subs = ["convert", "inspect", "index", "classifier", "flash", "bench"]
    assert all(s in top for s in subs), top
    assert m2v(installed, "--version", cwd=tmp_path).stdout.strip() == f"m2v {host_tools.__version__}"
    for s in subs:
        text = m2v(installed, s, "--help", cwd=tmp_path).stdout
        assert "example" in text and f"m2v {s}" in text.split("example", 1)[1], f"m2v {s} --help: no example\n{text}"
        # every option appears in one of the examples, or its help gives one ("e.g.")
        options = [w.rstrip(",") for w in text.split("example", 1)[0].split() if w.startswith("--") and w != "--help"]
        for opt in options:
            assert "e.g." in text or opt in text.split("example", 1)[1], f"m2v {s} {opt}: no example"


def test_convert_and_flash_to_the_virtual_board(installed, board, tmp_path, report):
    port, d = board
    t0 = time.monotonic()
    out = tmp_path / "model.m2v"
    m2v(installed, "convert", ROOT / "firmware_assets" / "potion-minilm-micro", "-o", out, cwd=tmp_path)
    assert out.read_bytes() == MODEL.read_bytes()
    env = {**os.environ, "M2V_CACHE": str(tmp_path / "cache")}
    p = m2v(installed, "flash", "--port", port, "--model", out, cwd=tmp_path, env=env, timeout=600)
    log = p.stdout
    assert "board: x64 native code" in log, log
    assert f"model.m2v.tmp: {MODEL.stat().st_size:,} / {MODEL.stat().st_size:,} bytes (100 %)" in log, log
    assert "KiB/s" in log
    assert "model.m2v: verified" in log and "smoke: matches host_tools.reference bit for bit" in log, log
    assert (d / "model.m2v").read_bytes() == MODEL.read_bytes()
    # the package came from the wheel's copy, compiled into the cache, never into the repository
    assert (tmp_path / "cache" / "dist" / "x64_6.3" / "package.json").is_file()
    assert sorted(p.name for p in (d / "lib" / "m2v").iterdir()) == sorted(
        [p.stem + ".mpy" for p in (ROOT / "device" / "m2v").glob("*.py")] + ["_native.mpy"]
    )
    report("newcomer: m2v convert + m2v flash to the virtual board (s)", f"{time.monotonic() - t0:.1f}")


def test_bench_outside_a_clone_says_so(installed, tmp_path):
    p = subprocess.run([installed / "m2v", "bench"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == "error: m2v bench runs the benchmarks of a clone of the repository (scripts/, tests/)"


def test_missing_extra_is_one_line(monkeypatch, capsys, tmp_path):
    """Without scikit-learn, training a classifier names the extra to install, in one line, no traceback."""
    import importlib.util

    from host_tools import __main__ as cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    rc = cli.main(["classifier", str(MODEL), str(tmp_path / "train.jsonl"), "-o", str(tmp_path / "x.m2vc")])
    assert rc == 2
    assert capsys.readouterr().err == (
        "error: training a classifier needs sklearn: pip install 'm2v-micropython-host-tools[classifier]'\n"
    )
    assert not (tmp_path / "x.m2vc").exists()
