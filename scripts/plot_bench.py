"""Draw the emulated boards' speed figures from benchmarks/results.csv as a PNG.

    python -m scripts.plot_bench [--csv benchmarks/results.csv] [-o docs/instructions_per_token.png]

Left: instructions per token (real English texts, `make bench BOARD=...`) by
board and mode, log scale; right: heap held after load against instructions
per token, the trade file mode makes. The latest run of each board in the
CSV is drawn. Needs matplotlib (pip install '.[plot]'); without it, one line
says so and nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ["qemu-cortex-m0", "qemu-cortex-m7", "qemu-rv32imc"]
# (label, mode/impl, heap): the rows of `make bench BOARD=...`'s table
MODES = [
    ("ROMFS, C core", "rom/native", "192K"),
    ("file, default, 192 KiB heap", "file+auto/native", "192K"),
    ("file, default, 100 KiB heap", "file+auto/native", "100K"),
    ("file, ram=0", "file/native", "192K"),
]


def latest(path: Path) -> dict[tuple[str, str], float]:
    """(machine, metric) -> value of the latest run of each machine (rows are appended in time order)."""
    rows = list(csv.DictReader(path.open()))
    last = {}
    for r in rows:
        last[r["machine"]] = max(last.get(r["machine"], ""), r["timestamp"])
    return {(r["machine"], r["metric"]): float(r["value"]) for r in rows if r["timestamp"] == last[r["machine"]]}


def plot(data: dict[tuple[str, str], float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(MODES)
    for j, (label, mode, heap) in enumerate(MODES):
        vals = [data.get((b, f"real.{mode}.heap{heap}.instr_per_token"), 0) for b in BOARDS]
        xs = [i + (j - (len(MODES) - 1) / 2) * width for i in range(len(BOARDS))]
        bars = ax.bar(xs, vals, width, label=label)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in vals], fontsize=6, rotation=90, padding=2)
        heaps = [data.get((b, f"load.{mode}.heap{heap}.heap_bytes")) for b in BOARDS]
        pts = [(h / 1024, v) for h, v in zip(heaps, vals) if h and v]
        if pts:
            bx.scatter(*zip(*pts), label=label, s=30)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 4)  # room for the value labels
    ax.set_xticks(range(len(BOARDS)), [b.removeprefix("qemu-") for b in BOARDS])
    ax.set_ylabel("instructions per token (log)")
    ax.set_title("English texts of 20-200 characters, qemu -icount")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    bx.set_yscale("log")
    bx.set_xlabel("heap held after load (KiB)")
    bx.set_ylabel("instructions per token (log)")
    bx.set_title("heap held against speed (all three boards)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="draw instructions per token by board and mode as a PNG")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "instructions_per_token.png")
    a = ap.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:
        print("plot: no PNG drawn: it needs matplotlib (pip install 'm2v-micropython-host-tools[plot]')")
        return 0
    data = latest(a.csv)
    missing = [b for b in BOARDS if not any(m == b for m, _ in data)]
    if len(missing) == len(BOARDS):
        print(f"plot: {a.csv} has no emulated-board runs (make bench BOARD=cortex-m0 ...)", file=sys.stderr)
        return 1
    plot(data, a.output)
    print(f"plot: {a.output} ({', '.join(b for b in BOARDS if b not in missing)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
