"""Flash the m2v package and a model to a MicroPython board over mpremote.

    python -m scripts.flash --port /dev/ttyACM0 [--arch ARCH] [--model M] [--mode fs|romfs]
    make flash PORT=/dev/ttyACM0 [ARCH=...] [MODEL=model.m2v|model folder|ORG/NAME]

0. reads the board's architecture from sys.implementation._mpy
   (scripts/mpy_arch.py) and picks the build it loads (armv6m for an armv7m
   board...); an --arch the board would refuse is an error. A model folder or
   a Hugging Face hub id is converted first (build/models/, host_tools.hub);
1. builds dist/<arch>_6.3/m2v/*.mpy (scripts/build_dist.py) and copies it to :lib/m2v/
   (stale files there are removed first: a .py would shadow its .mpy);
2. fs mode: copies the model to :model.m2v.tmp, checks it on the board (size,
   binascii.crc32 against the host, and m2v.load(..., check_crc=True)) and only
   then renames it to :model.m2v, so an interrupted transfer leaves the previous
   model in use. romfs mode: first, before anything is written, the board
   must report a ROMFS partition that holds the image (`mpremote romfs query`:
   no ROMFS, no partition or too small a partition is refused in one line); then
   `mpremote romfs deploy` of that image to the partition, a soft reset (the
   deploy unmounts /rom; boot mounts it again), then the same check of
   /rom/model.m2v;
3. smoke test: loads the default model and embeds a sentence on the board,
   prints the first values, the time and the heap used, and compares the whole
   vector with the host reference (host_tools.reference) bit for bit.

Paths on the board are relative (model.m2v, lib/m2v): mpremote's working
directory is / on a real board and the board directory on the virtual board
(scripts/vboard.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from . import build_dist, mpy_arch

ROOT = Path(__file__).resolve().parent.parent

MODEL = ROOT / "firmware_assets" / "model.m2v"
MODELS = ROOT / "build" / "models"  # models converted from a folder or a hub id
SMOKE_TEXT = "turn on the kitchen lights"


class FlashError(RuntimeError):
    pass


def mpremote_exe() -> list[str]:
    exe = Path(sys.executable).parent / "mpremote"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mpremote")
    return [found] if found else [sys.executable, "-m", "mpremote"]


def mpremote(port: str, *args: str, timeout: float = 300, check: bool = True) -> str:
    """Run `mpremote connect PORT resume ARGS...`; return its stdout."""
    cmd = mpremote_exe() + ["connect", port, "resume", *args]
    for _ in range(2):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise FlashError(f"mpremote timed out after {timeout}s: {' '.join(args)[:200]}") from e
        if p.returncode == 0 or not check:
            break
        # A board left mid-command by an interrupted transfer answers the
        # first connection badly; every command here is idempotent, so retry once.
        time.sleep(1.0)
    if check and p.returncode != 0:
        what = " ".join(args)[:200]
        raise FlashError(f"mpremote {what} failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p.stdout


def board_exec(port: str, code: str, timeout: float = 300) -> str:
    """Run code on the board; raise FlashError if it raised (its traceback is in the message)."""
    out = mpremote(port, "exec", code, timeout=timeout)
    if "Traceback (most recent call last)" in out:
        raise FlashError("board raised:\n" + out[-2000:])
    return out


def board_json(port: str, code: str, timeout: float = 300) -> dict:
    """Run code that ends with print("@@" + json.dumps(...)); return that object."""
    out = board_exec(port, code, timeout)
    for line in out.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise FlashError("no result from the board:\n" + out[-2000:])


def board_abi(port: str) -> mpy_arch.BoardABI:
    """The board's .mpy version and native architecture (sys.implementation._mpy)."""
    r = board_json(port, "import sys, json\nprint('@@' + json.dumps(getattr(sys.implementation, '_mpy', -1)))")
    if r == -1:
        raise FlashError("the board's firmware has no sys.implementation._mpy: it cannot load .mpy files")
    try:
        return mpy_arch.decode(r)
    except ValueError as e:
        raise FlashError(str(e)) from None


def board_arch(port: str) -> str | None:
    """The board's native architecture (None: its firmware has no native emitter)."""
    return board_abi(port).arch


def choose_arch(abi: mpy_arch.BoardABI, arch: str | None) -> str | None:
    """The build to install: ``arch`` if the board loads it, else the best one for the board.

    None for a firmware without native code: the package's bytecode loads there, its C core does not.
    """
    mpy = f"sys.implementation._mpy = {abi.value:#x}"
    if abi.arch is None:
        if arch is not None:
            raise FlashError(f"the board's firmware cannot load native code ({mpy}): leave ARCH unset")
        return None
    best = mpy_arch.dist_arch(abi.arch) or abi.arch  # mpy-cross builds the board's own arch too
    if arch is None:
        return best
    if not mpy_arch.accepts(abi.arch, arch):
        raise FlashError(
            f"the board runs {abi.arch} native code ({mpy}) and would refuse {arch} .mpy files:"
            f" leave ARCH unset (it picks {best}) or pass ARCH={best}"
        )
    return arch


def package_files(arch: str | None, dist: Path) -> list[Path]:
    """The built package's files for a board of ``arch``; None: without the C core (its bytecode is any arch's)."""
    pkg = build_dist.build(arch or mpy_arch.ARCHS[0], dist)
    return sorted(f for f in pkg.glob("*.mpy") if arch or f.name != "_native.mpy")


def install_package(port: str, arch: str | None, dist: Path, abi: mpy_arch.BoardABI | None = None, log=print) -> None:
    with build_dist.locked(arch or mpy_arch.ARCHS[0], dist):  # no other `make flash` rebuilds it meanwhile
        files = package_files(arch, dist)
        built = build_dist.mpy_abi(files) if arch else None
        if abi is not None and built is not None and built != abi.abi:
            raise FlashError(
                f"the board's firmware loads .mpy {abi.abi}, the package is built as {built} by this mpy-cross:"
                " native code in .mpy 6.3 needs MicroPython v1.24 or later (proven on v1.28.0)"
            )
        version = files[0].read_bytes()[1]  # bytecode: the .mpy version alone must match
        if abi is not None and built is None and version != abi.mpy_version:
            raise FlashError(f"the board's firmware loads .mpy version {abi.mpy_version}, the package is {version}")
        board_exec(
            port,
            "import os\n"
            "for d in ('lib', 'lib/m2v'):\n"
            "    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"
            "for n in os.listdir('lib/m2v'):\n    os.remove('lib/m2v/' + n)\n",
        )
        mpremote(port, "fs", "cp", *[str(f) for f in files], ":lib/m2v/")
        size = sum(f.stat().st_size for f in files)
        log(f"package: {len(files)} files ({size} bytes, {arch or 'no C core'}) -> :lib/m2v/")


VERIFY = """
import sys
for k in list(sys.modules):
    if k == 'm2v' or k.startswith('m2v.'):
        del sys.modules[k]
import os, json, gc
from binascii import crc32
p = {path!r}
size = os.stat(p)[6]
c = 0
b = bytearray(4096)
mv = memoryview(b)
with open(p, 'rb') as f:
    while True:
        n = f.readinto(b)
        if not n:
            break
        c = crc32(mv[:n], c)
{check}
gc.collect()
print('@@' + json.dumps([size, c & 0xffffffff]))
"""
# What the board runs on a copied model before it replaces the old one.
CHECK_MODEL = "import m2v\nm = m2v.load(p, check_crc=True, mode='file')\ndel m"

COMMIT = """
import os
try:
    os.rename({tmp!r}, {final!r})
except OSError:  # filesystems whose rename does not replace (FAT)
    os.remove({final!r})
    os.rename({tmp!r}, {final!r})
print('@@1')
"""


def copy_file(port: str, local: Path, remote: str, log=print, every: float = 2.0) -> None:
    """Copy ``local`` to ``:remote`` with mpremote's transport (what ``mpremote fs cp`` runs), logging progress.

    A line with the bytes copied and the rate at most every ``every`` seconds and at
    the end: a 720 KB model takes a minute or more over a UART. One retry on a
    transport error, as :func:`mpremote` does (the copy rewrites the file from the start).
    """
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    data = local.read_bytes()
    total = len(data)
    for attempt in range(2):
        t0 = last = time.monotonic()

        def progress(done: int, _total: int, t0: float = t0) -> None:
            nonlocal last
            now = time.monotonic()
            if done < total and now - last < every:
                return
            last = now
            rate = done / max(now - t0, 1e-6) / 1024
            log(f"{remote}: {done:,} / {total:,} bytes ({100 * done // max(total, 1)} %), {rate:.1f} KiB/s")

        try:
            t = SerialTransport(port, baudrate=115200)
        except Exception as e:  # mpremote raises TransportError, serial.SerialException, OSError
            raise FlashError(f"cannot open {port}: {e}") from None
        try:
            t.enter_raw_repl(soft_reset=False)
            t.fs_writefile(remote, data, progress_callback=progress)
            t.exit_raw_repl()
            return
        except (TransportError, OSError) as e:
            if attempt:
                raise FlashError(f"copying {local} to :{remote} failed: {e}") from None
            time.sleep(1.0)
        finally:
            t.close()


def install_file(port: str, local: Path, final: str, check: str, log=print) -> None:
    """Copy ``local`` to ``:final`` so that an interrupted transfer never replaces a working file.

    The data goes to ``final + '.tmp'``; the board checks its size and CRC-32
    against the host and runs ``check`` (with ``p`` naming the temp file)
    before the rename.
    """
    data = local.read_bytes()
    want = [len(data), zlib.crc32(data)]
    tmp = final + ".tmp"
    board_exec(port, f"import os\ntry:\n    os.remove({tmp!r})\nexcept OSError:\n    pass\n")
    log(f"{final}: copying {local} ({len(data)} bytes) -> :{tmp}")
    copy_file(port, local, tmp, log)
    got = board_json(port, VERIFY.format(path=tmp, check=check), timeout=600)
    if got != want:
        raise FlashError(f"{final} on the board differs from the host (size, crc32): board {got}, host {want}")
    board_json(port, COMMIT.format(tmp=tmp, final=final))
    log(f"{final}: verified (crc32 {want[1]:08x}) and renamed to :{final}")


def install_model_fs(port: str, model: Path, log=print) -> None:
    install_file(port, model, "model.m2v", CHECK_MODEL, log)


# mpremote romfs query's one answer for a board with a ROMFS partition (mpremote/commands.py,
# _do_romfs_query_partition); every other answer ("ROMFS is not enabled on this device",
# "No ROMFS partitions available", "ROMFS0 partition not found on device", an error) means none.
ROMFS_PARTITION = re.compile(r"^ROMFS0 partition has size (\d+) bytes", re.M)


def romfs_image(model: Path) -> bytes:
    """The ROMFS image ``romfs deploy`` writes: model.m2v alone, built by mpremote's builder."""
    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as d:
        shutil.copy(model, Path(d) / "model.m2v")
        with contextlib.redirect_stdout(io.StringIO()):
            return make_romfs(d, mpy_cross=False)


def romfs_partition(port: str) -> int:
    """The size in bytes of the board's ROMFS partition 0; FlashError when the board has none."""
    probe = mpremote_exe() + ["connect", port, "resume", "romfs", "query"]
    try:
        p = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        text = (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        p, text = None, ""
    found = ROMFS_PARTITION.search(text)
    if p is None or p.returncode != 0 or not found:
        said = text.splitlines()[-1].strip() if text else "no answer"
        raise FlashError(
            f"MODE=romfs: this board has no ROMFS partition (mpremote: {said}); nothing was written."
            " Stock rp2 and esp32 firmware and the unix virtual board have none: use MODE=fs."
        )
    return int(found.group(1))


def check_romfs(port: str, image_size: int) -> None:
    """Refuse, before anything is written, a board without a ROMFS partition or one smaller than the image."""
    size = romfs_partition(port)
    if image_size > size:
        raise FlashError(
            f"MODE=romfs: the ROMFS image ({image_size} bytes) is larger than the board's partition"
            f" ({size} bytes); nothing was written. Use MODE=fs, or a smaller model."
        )


def install_model_romfs(port: str, model: Path, log=print, image: bytes | None = None) -> None:
    """Deploy ``image`` (default: :func:`romfs_image` of ``model``), soft-reset, verify /rom/model.m2v."""
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "model.romfs"  # the image whose size check_romfs checked, deployed as is
        img.write_bytes(romfs_image(model) if image is None else image)
        log(f"model: romfs deploy {model} ({img.stat().st_size} bytes)")
        mpremote(port, "romfs", "deploy", str(img), timeout=1800)
    # the deploy unmounted /rom to write it; the boot after a soft reset mounts it again
    mpremote(port, "soft-reset", timeout=60)
    got = board_json(port, VERIFY.format(path="/rom/model.m2v", check=CHECK_MODEL), timeout=600)
    data = model.read_bytes()
    if got != [len(data), zlib.crc32(data)]:
        raise FlashError(f"/rom/model.m2v differs from the host: {got}")
    log("model: verified /rom/model.m2v")


EMBED = """
import sys, gc, time, json
for k in list(sys.modules):
    if k == 'm2v' or k.startswith('m2v.'):
        del sys.modules[k]
gc.collect()
t0 = time.ticks_us()
import m2v
gc.collect()
a0 = gc.mem_alloc()
m = m2v._model()
t1 = time.ticks_us()
r = []
for s in {texts!r}:
    gc.collect()
    b0 = gc.mem_alloc()
    t = time.ticks_us()
    v = m.embed(s)
    dt = time.ticks_diff(time.ticks_us(), t)
    r.append([list(v), dt, gc.mem_alloc() - b0])
print('@@' + json.dumps({{'load_us': time.ticks_diff(t1, t0), 'model_heap': gc.mem_alloc() - a0,
    'free': gc.mem_free(), 'file': m2v.__file__, 'r': r}}))
"""


def embed_on_board(port: str, texts: list[str], timeout: float = 600) -> dict:
    """Embed texts with the board's default model: {'r': [[vector, us, heap_bytes], ...], ...}."""
    return board_json(port, EMBED.format(texts=list(texts)), timeout=timeout)


def reference_vectors(model: Path, texts: list[str]) -> list[list[int]]:
    from host_tools import reference

    ref = reference.load(model)
    return [[int(x) for x in ref.embed(t)] for t in texts]


def smoke(port: str, model: Path, log=print) -> None:
    res = embed_on_board(port, [SMOKE_TEXT])
    vec, us, heap = res["r"][0]
    ms = res["load_us"] / 1000
    log(f"smoke: m2v from {res['file']}; import + load (CRC) {ms:.1f} ms, heap {res['model_heap']} B")
    log(f"smoke: embed({SMOKE_TEXT!r})[:8] = {vec[:8]}  ({len(vec)} dims)")
    log(f"smoke: embed {us / 1000:.1f} ms, {heap} B allocated by embed, {res['free']} B free")
    if vec != reference_vectors(model, [SMOKE_TEXT])[0]:
        raise FlashError("smoke: the board's vector differs from the host reference")
    log("smoke: matches host_tools.reference bit for bit")


def resolve_model(model: str | Path, out_dir: Path = MODELS, log=print) -> Path:
    """An .m2v file as is; a model2vec folder or a hub id ``ORG/NAME``: converted into ``out_dir`` first."""
    path = Path(model)
    if path.is_file():
        return path
    from host_tools import hub
    from host_tools.convert import convert

    if not path.is_dir() and not hub.is_repo_id(str(model)):
        raise FlashError(f"model {model}: no such file or folder, nor a Hugging Face hub id ORG/NAME")
    out = Path(out_dir) / (str(model).strip("/").replace("/", "--") + ".m2v")
    if path.is_dir():
        out = Path(out_dir) / (path.resolve().name + ".m2v")
    log(f"model: converting {model} -> {out}")
    convert(str(model), out)
    return out


def flash(
    port: str, model: Path = MODEL, arch: str | None = None, mode: str = "fs", dist: Path = ROOT / "dist", log=print
) -> None:
    """Install the package and model on the board at port, then smoke-test it.

    ``arch`` None: the board's own (see :func:`choose_arch`); ``model`` an .m2v
    file, a model2vec folder or a Hugging Face hub id (converted first).
    """
    if mode not in ("fs", "romfs"):
        raise FlashError("mode must be fs or romfs")
    abi = board_abi(port)
    arch = choose_arch(abi, arch)
    if arch is None:
        log(f"board: no native code (.mpy {abi.abi}): installing the package without its C core; the"
            " pure-Python code runs, about 100x slower, and the board says so at the first load")  # fmt: skip
    else:
        log(f"board: {abi.arch} native code, .mpy {abi.abi}; installing the {arch} build")
    model = resolve_model(model, log=log)
    image = None
    if mode == "romfs":
        image = romfs_image(model)
        check_romfs(port, len(image))
    install_package(port, arch, Path(dist), abi, log)
    if mode == "romfs":
        install_model_romfs(port, model, log, image)
    else:
        install_model_fs(port, model, log)
    smoke(port, model, log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="flash m2v and a model to a board")
    ap.add_argument("--port", required=True, help="serial port (or the virtual board's pty)")
    ap.add_argument("--model", default=str(MODEL), help="an .m2v file, a model2vec folder or a hub id ORG/NAME")
    ap.add_argument("--arch", default=None, help="mpy-cross -march (default: what the board reports)")
    ap.add_argument("--mode", default="fs", choices=["fs", "romfs"])
    ap.add_argument("--dist", default=str(ROOT / "dist"), type=Path)
    a = ap.parse_args(argv)
    if not a.port:
        ap.error("PORT is empty: make flash PORT=/dev/ttyACM0 (or the port printed by make vboard)")
    from host_tools.modeldir import ModelError

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)  # the converter's progress
    try:
        flash(a.port, a.model, a.arch, a.mode, a.dist)
    except FlashError as e:
        print(f"flash: {e}", file=sys.stderr)
        return 1
    except ModelError as e:  # converting a model folder or hub id failed (e.g. offline, not cached)
        print(f"flash: error: {e}", file=sys.stderr)
        return 2
    print("flash: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
