"""Flash a virtual board (unix port on a pty) over mpremote; survive an interrupted model transfer."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpy import MODEL

from scripts import flash

ROOT = Path(__file__).resolve().parent.parent

TEXTS = ["turn on the kitchen lights", "Wie spät ist es?", "", "naïve café — 3.14 😀 OK"]


def on_board(port):
    return [r[0] for r in flash.embed_on_board(port, TEXTS)["r"]]


def test_flash_and_interrupted_flash(board, tmp_path):
    port, d = board
    new_model = tmp_path / "new.m2v"
    conv = subprocess.Popen(  # a different model (first 128 dims) for the second flash, built meanwhile
        [sys.executable, "-m", "host_tools", "convert", str(ROOT / "firmware_assets" / "potion-minilm-micro"),
         "--dims", "128", "-o", str(new_model)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    logs = []
    flash.flash(port, MODEL, "x64", dist=tmp_path / "dist", log=logs.append)
    assert (d / "model.m2v").read_bytes() == MODEL.read_bytes()
    assert not (d / "model.m2v.tmp").exists()
    assert any("bit for bit" in line for line in logs)
    want = flash.reference_vectors(MODEL, TEXTS)
    assert on_board(port) == want

    assert conv.wait(120) == 0, conv.stderr.read()
    # Interrupted transfer: kill mpremote while it copies the new model.
    cp = subprocess.Popen(
        flash.mpremote_exe() + ["connect", port, "resume", "fs", "cp", str(new_model), ":model.m2v.tmp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    end = time.monotonic() + 20
    while time.monotonic() < end and not ((d / "model.m2v.tmp").exists() and (d / "model.m2v.tmp").stat().st_size):
        time.sleep(0.05)
    time.sleep(0.3)
    cp.kill()
    cp.wait()
    partial = (d / "model.m2v.tmp").stat().st_size
    assert 0 < partial < new_model.stat().st_size
    assert (d / "model.m2v").read_bytes() == MODEL.read_bytes()
    assert on_board(port) == want  # the board still runs the previous model

    # A truncated temp file is refused by the on-board check and never committed.
    with pytest.raises(flash.FlashError):
        flash.board_json(port, flash.VERIFY.format(path="model.m2v.tmp", check=flash.CHECK_MODEL))

    flash.flash(port, new_model, "x64", dist=tmp_path / "dist", log=logs.append)
    assert (d / "model.m2v").read_bytes() == new_model.read_bytes()
    got = on_board(port)
    assert got == flash.reference_vectors(new_model, TEXTS)
    assert len(got[0]) == 128


# The board's vfs as a firmware with ROMFS support answers mpremote's romfs query
# (vfs.rom_ioctl: 1 the number of partitions, 2 partition 0's block device: ioctl 4
# its block count, 5 its block size), put in sys.modules of the virtual board so that
# mpremote's `import vfs` finds it.
FAKE_VFS = """
import sys
class _Dev(bytearray):
    def ioctl(self, op, arg):
        return {size} // 4096 if op == 4 else 4096
class _Vfs:
    def rom_ioctl(self, op, *a):
        if op == 1:
            return {n}
        if op == 2:
            return _Dev(16) if a[0] < {n} else -19
        return -22
sys.modules['vfs'] = _Vfs()
"""


def test_romfs_mode_refused_before_anything_is_written(board, tmp_path):
    """No ROMFS (the unix port), no partition, a partition smaller than the image: one line, nothing written."""
    port, d = board
    image = len(flash.romfs_image(MODEL))
    fits = -(-image // 4096) * 4096  # the smallest partition of 4 KiB blocks that holds it
    refusals = []
    for n, size, why in [(None, 0, "ROMFS is not enabled on this device"),
                         (0, 0, "No ROMFS partitions available"),
                         (1, 65536, f"the ROMFS image ({image} bytes) is larger than the board's partition (65536 bytes)"),
                         (1, fits - 4096, f"larger than the board's partition ({fits - 4096} bytes)")]:  # fmt: skip
        if n is not None:
            flash.board_exec(port, FAKE_VFS.format(n=n, size=size))
        with pytest.raises(flash.FlashError) as e:
            flash.flash(port, MODEL, "x64", mode="romfs", dist=tmp_path / "dist", log=refusals.append)
        msg = str(e.value)
        assert why in msg and "nothing was written" in msg and "\n" not in msg, msg
        assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == [], "written before the check"
    # a partition that holds the image passes the check (the deploy itself needs a real board)
    flash.board_exec(port, FAKE_VFS.format(n=1, size=fits))
    assert flash.romfs_partition(port) == fits
    flash.check_romfs(port, image)


def test_romfs_query_answers_of_mpremote_are_recognised(monkeypatch):
    """Every answer of mpremote's romfs query (read from its source) but a partition's size is a refusal."""
    import inspect

    from mpremote import commands

    src = inspect.getsource(commands._do_romfs_query) + inspect.getsource(commands._do_romfs_query_partition)
    nothing = re.findall(r'print\("([^"{]+)"\)', src)
    assert "ROMFS is not enabled on this device" in nothing and "No ROMFS partitions available" in nothing
    not_found = re.search(r'CommandError\(f"(ROMFS)\{rom_id\}( partition not found on device)"\)', src)
    has = re.search(r'f"(ROMFS)\{rom_id\}( partition has size )\{rom_size\}( bytes )', src)
    assert not_found and has, "mpremote's romfs query changed its messages"
    answers = [(line, "", 0) for line in nothing if "valid" not in line]
    answers += [("", "mpremote: " + "0".join(not_found.groups()), 1), ("", "", 1), ("", "mpremote: no device found", 1)]
    sized = "0".join(has.groups()[:2]) + "724992" + has.group(3) + "(177 blocks of 4096 bytes each)"
    for out, err, rc in answers + [(sized, "", 0)]:
        monkeypatch.setattr(
            flash.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, rc, out, err)  # noqa: B023
        )
        if out == sized:
            assert flash.romfs_partition("PORT") == 724992
            continue
        with pytest.raises(flash.FlashError, match="has no ROMFS partition"):
            flash.romfs_partition("PORT")


@pytest.fixture(scope="module")
def model_128(tmp_path_factory):
    out = tmp_path_factory.mktemp("m128") / "new.m2v"
    subprocess.run(
        [sys.executable, "-m", "host_tools", "convert", str(ROOT / "firmware_assets" / "potion-minilm-micro"),
         "--dims", "128", "-o", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("kill_after", [0.5, 3.0, 6.0])
def test_flash_killed_at_any_point(board, tmp_path, model_128, kill_after):
    """Kill the whole flash process at several points: the board then runs the old model, the new one,
    or gives a clear error (a half-copied package does not import), never wrong vectors; a second
    flash always completes."""
    port, d = board
    dist = tmp_path / "dist"
    flash.flash(port, MODEL, "x64", dist=dist, log=lambda _: None)
    old = flash.reference_vectors(MODEL, TEXTS)
    new = flash.reference_vectors(model_128, TEXTS)

    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.flash", "--port", port, "--arch", "x64",
         "--model", str(model_128)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(kill_after)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        got = on_board(port)
        assert got in (old, new), "the board returned vectors of neither model"
        outcome = "old model" if got == old else "new model"
    except flash.FlashError as e:  # e.g. the package was half copied: it must say so, not embed
        assert "Error" in str(e)
        outcome = "clear error: " + str(e).strip().splitlines()[-1][:80]
    print(f"\nflash killed after {kill_after} s: {outcome}")
    flash.flash(port, model_128, "x64", dist=dist, log=lambda _: None)
    assert on_board(port) == new


def test_board_without_native_code_gets_the_package_without_its_c_core(tmp_path):
    """A firmware without native code: `make flash` installs the bytecode, the board runs the twins and says so."""
    from host_tools import reference
    from scripts import mpy_arch
    from scripts.board import UnixBoard

    abi = mpy_arch.decode(mpy_arch.encode(None))
    assert flash.choose_arch(abi, None) is None
    with pytest.raises(flash.FlashError, match="cannot load native code"):
        flash.choose_arch(abi, "armv6m")
    with pytest.raises(flash.FlashError, match="loads .mpy version 5"):  # refused before anything is removed
        flash.install_package("/dev/null", None, tmp_path / "dist", abi._replace(mpy_version=5))
    files = flash.package_files(None, tmp_path / "dist")
    want = {p.stem + ".mpy" for p in (ROOT / "device" / "m2v").glob("*.py")}
    assert {f.name for f in files} == want  # every module, no _native.mpy
    assert all(f.read_bytes()[2] == 0 for f in files)  # no architecture in any header: any v6 firmware loads them
    code = (
        "import json, m2v\n"
        f"m = m2v.load({str(MODEL)!r})\n"
        f"v = [list(m.embed(t)) for t in {TEXTS!r}]\n"
        "print('@@' + json.dumps([m.impl, v]))\n"
    )
    with UnixBoard(device=tmp_path / "pkg") as b:
        (tmp_path / "pkg" / "m2v").mkdir(parents=True)
        for f in files:
            (tmp_path / "pkg" / "m2v" / f.name).write_bytes(f.read_bytes())
        p = b.run(code)
    assert p.returncode == 0, p.stderr[-2000:]
    impl, vectors = next(json.loads(x[2:]) for x in p.stdout.splitlines() if x.startswith("@@"))
    assert impl == {"tok": "py", "pool": "py", "loop": "py"}
    assert "m2v: C core not loaded" in p.stderr
    m = reference.load(MODEL)
    assert vectors == [[int(x) for x in m.embed(t)] for t in TEXTS]
