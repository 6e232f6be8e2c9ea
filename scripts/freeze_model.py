"""Write a model binary as a frozen Python module: ``MODEL = b"..."``.

Frozen into firmware (``firmware_assets/manifest.py``), the bytes stay in
flash and ``m2v.Model(m2v_model.MODEL)`` reads them in place, like ROMFS.

    python -m scripts.freeze_model firmware_assets/model.m2v -o build/frozen/m2v_model.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_module(model: Path, out: Path) -> int:
    """Write ``out`` atomically; return the model's size in bytes."""
    data = model.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(f"# Generated from {model.name} by scripts/freeze_model.py: the m2v model, frozen as bytes.\n")
        f.write("MODEL = (\n")
        for i in range(0, len(data), 64):
            f.write(f"    {data[i:i + 64]!r}\n")
        f.write(")\n")
    os.replace(tmp, out)
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", default=ROOT / "firmware_assets" / "model.m2v")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "build" / "frozen" / "m2v_model.py")
    args = parser.parse_args()
    write_module(args.model, args.output)


if __name__ == "__main__":
    main()
