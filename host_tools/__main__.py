"""The m2v command: convert, inspect, index, classifier, flash, bench.

Installed with ``pip install .`` as ``m2v``; ``python -m host_tools`` is the same
command (what the Makefile runs). Every subcommand's ``--help`` shows an example.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import shlex
import sys
from pathlib import Path

from host_tools import __version__
from host_tools import binfmt as bf

logger = logging.getLogger("host_tools")

PACKAGE = "m2v-micropython-host-tools"  # the distribution name, for pip lines in messages
HERE = Path(__file__).resolve().parent


class CommandError(RuntimeError):
    """A failure reported as one line on stderr (exit status 2)."""


def tree() -> Path:
    """Return the folder holding scripts/, device/ and firmware_assets/: the clone, or the wheel's copy.

    In a clone that is the repository root; a ``pip install`` carries the same
    layout in ``host_tools/_repo/`` (pyproject.toml), so scripts/flash.py finds
    the package, the C core builds and the default model in both.
    """
    for root in (HERE.parent, HERE / "_repo"):
        if (root / "scripts" / "flash.py").is_file() and (root / "device" / "m2v" / "__init__.py").is_file():
            return root
    raise CommandError(f"no scripts/flash.py beside {HERE}: reinstall {PACKAGE} (pip install .)")


def is_clone(root: Path) -> bool:
    """Tell a clone of the repository (its build/ and dist/ are used) from an installed wheel."""
    return root == HERE.parent and (root / "pyproject.toml").is_file()


def scripts_module(root: Path, name: str):  # noqa: ANN201 (a module)
    """Import the module ``name`` of ``root``'s scripts package.

    That is ``scripts`` in a clone (its root on sys.path, as ``python -m host_tools`` run there has it),
    the wheel's copy ``host_tools._repo.scripts`` when installed.
    """
    for package in ("scripts", "host_tools._repo.scripts"):
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if e.name is not None and not f"{package}.{name}.".startswith(e.name + "."):
                raise  # the module is there, one of its own imports is missing: say which
            continue
        if Path(module.__file__).resolve().parents[1] == root.resolve():
            return module
    raise CommandError(f"no scripts/{name}.py importable from {root}: run from the clone's root, or reinstall")


def cache_dir() -> Path:
    """Where an installed m2v builds the package and converts models (a clone uses its own dist/ and build/)."""
    base = os.environ.get("M2V_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "m2v"
    )
    return Path(base)


def require(module: str, extra: str, what: str) -> None:
    """Raise CommandError naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise CommandError(f"{what} needs {module}: pip install '{PACKAGE}[{extra}]'")


def _inspect(path: Path) -> str:
    data = path.read_bytes()
    h, secs = bf.check(data)
    lines = [f"{path}: m2v format version {h.version}, {h.file_size:,} bytes, CRC-32 {h.crc32:08x} (ok)"]
    for f in bf.Header.__dataclass_fields__:
        lines.append(f"  {f:20s} {getattr(h, f)!r}")
    lines.append("  sections:")
    for sid, (off, size) in sorted(secs.items(), key=lambda kv: kv[1][0]):
        share = 100 * size / h.file_size
        lines.append(f"    {bf.SECTION_NAMES[sid]:10s} offset {off:8,d}  size {size:8,d}  ({share:5.1f} %)")
    return "\n".join(lines)


def _flash(args: argparse.Namespace) -> int:
    root = tree()
    fl = scripts_module(root, "flash")  # scripts/flash.py (the clone's, or the wheel's copy)

    from host_tools.modeldir import ModelError

    # progress on stdout, errors alone on stderr (as scripts/flash.py prints them)
    out = logging.getLogger("host_tools.flash")
    if not out.handlers:
        out.addHandler(logging.StreamHandler(sys.stdout))
        out.propagate = False
    work = root / "build" if is_clone(root) else cache_dir()
    dist = args.dist or (root / "dist" if is_clone(root) else cache_dir() / "dist")
    try:
        model = fl.resolve_model(args.model or root / "firmware_assets" / "model.m2v", work / "models", out.info)
        fl.flash(args.port, model, args.arch, args.mode, dist, log=out.info)
    except fl.FlashError as e:
        sys.stderr.write(f"flash: {e}\n")
        return 1
    except ModelError as e:  # converting a model folder or hub id failed (e.g. offline, not cached)
        sys.stderr.write(f"flash: error: {e}\n")
        return 2
    out.info("flash: ok")
    return 0


# The benchmark suites (scripts/bench*.py, modules of this one entry point) and the boards each runs on.
SUITES = ("embed", "learn", "lock", "index", "classifier")
EMULATED = ("cortex-m0", "cortex-m7", "rv32imc", "xtensa-lx7")  # scripts/emuboard.py's BOARDS


def bench_runs(args: argparse.Namespace, root: Path) -> list[tuple[str, list[str]]]:
    """List the (scripts module, argv) runs ``m2v bench`` makes.

    One suite with ``--suite``; without it, the embedding figures, then learning (and, on the unix port,
    the classifier), then the plot.
    """
    extra = shlex.split(args.suite_args or "")
    model = str(args.model or root / "firmware_assets" / "model.m2v")
    port = ["--port", args.port] if args.port else []
    board = ["--board", args.board] if args.board else []
    if args.suite in ("index", "classifier", "lock") and args.port:
        raise CommandError(f"--suite {args.suite} runs on the unix port and the emulated boards, not on --port")
    if args.suite in ("index", "classifier") and args.board:
        raise CommandError(f"--suite {args.suite} runs on the unix port (no --board)")
    py = ["--py"] if args.py else []
    one = {
        "embed": ("bench_board", board) if args.board else ("bench", ["--model", model, *port]),
        "learn": ("bench_learn", ["--board", args.board or "unix"]),
        "lock": ("bench_lock", board),
        "index": ("bench_index", py),
        "classifier": ("bench_classifier", py),
    }
    if args.suite:
        name, argv = one[args.suite]
        return [(name, argv + extra)]
    runs = [one["embed"]]
    if args.board:
        runs.append(one["learn"])  # per add, per search
    elif not args.port:
        runs += [one["classifier"], one["learn"]]
    # then redraw docs/instructions_per_token.png from benchmarks/results.csv (needs the [plot] extra)
    return runs + [("plot_bench", [])]


def _bench(args: argparse.Namespace) -> int:
    root = tree()
    if not is_clone(root) or not (root / "tests" / "corpus").is_dir():
        raise CommandError("m2v bench runs the benchmarks of a clone of the repository (scripts/, tests/)")
    for name, argv in bench_runs(args, root):
        logger.info("m2v bench: %s %s", name, " ".join(argv))
        rc = scripts_module(root, name).main(argv)
        if rc:
            return rc
    return 0


def parser() -> argparse.ArgumentParser:
    """Build the command line: one subparser per subcommand, each with examples in its help."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="m2v",
        description="Model2Vec static text embeddings on MicroPython: host tools.",
        epilog="examples:\n"
        "  m2v convert firmware_assets/potion-minilm-micro -o model.m2v\n"
        "  m2v flash --port /dev/ttyACM0\n"
        "  m2v SUBCOMMAND --help            (every option, with examples)\n"
        "'python -m host_tools ...' is the same command.",
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")

    c = sub.add_parser(
        "convert",
        help="convert a model2vec model (folder or hub id) into an m2v binary",
        description="Convert a model2vec model with a BERT-style WordPiece tokenizer into one m2v binary.",
        epilog="examples:\n"
        "  m2v convert firmware_assets/potion-minilm-micro -o model.m2v\n"
        "  m2v convert minishlab/potion-base-8M -o base.m2v --centroids 2000 --dims 256   (needs the [hub] extra)\n"
        "  m2v convert MODEL_DIR -o short.m2v --max-length 128 --weight-bits 6",
        formatter_class=fmt,
    )
    c.add_argument("model_dir", help="a model2vec model folder, or a Hugging Face hub id ORG/NAME (downloaded "
                   "into the Hugging Face cache; HF_HUB_OFFLINE=1 reads only the cache)")  # fmt: skip
    c.add_argument("-o", "--output", type=Path, required=True, help="the .m2v file to write (e.g. -o model.m2v)")
    c.add_argument("--centroids", type=int, help="re-quantise the vocabulary into N centroids (k-means), e.g. 2000")
    c.add_argument("--dims", type=int, help="keep the first D dimensions, e.g. 256")
    c.add_argument("--max-length", type=int, help="token truncation (default: the model's config), e.g. 512")
    c.add_argument("--weight-bits", type=int, default=7, help="bits per token weight code (default 7), e.g. 6")

    i = sub.add_parser(
        "inspect",
        help="print the header fields and sections of an m2v binary",
        description="Check an m2v binary (CRC-32, sizes) and print its header fields and sections.",
        epilog="example:\n  m2v inspect firmware_assets/model.m2v",
        formatter_class=fmt,
    )
    i.add_argument("file", type=Path, help="the .m2v file, e.g. firmware_assets/model.m2v")

    x = sub.add_parser(
        "index",
        help="build a search index for m2v.Index (one text per line, or JSONL label/text)",
        description="Embed texts with a model and write an index file that m2v.Index searches on the board.",
        epilog="example:\n  m2v index firmware_assets/model.m2v examples/smart_home/intents.jsonl -o intents.m2vi",
        formatter_class=fmt,
    )
    x.add_argument("model", type=Path, help="m2v model binary that embeds the texts, e.g. firmware_assets/model.m2v")
    x.add_argument("texts", type=Path, help="one text per line, or JSONL with label and text, e.g. intents.jsonl")
    x.add_argument("-o", "--output", type=Path, required=True, help="the index file to write, e.g. -o intents.m2vi")
    x.add_argument("--grow", action="store_true", help="version 2: the board can append entries (m2v.Index.add)")
    x.add_argument("--label-max", type=int, default=32, help="--grow: longest appended label, UTF-8 bytes (32)")

    k = sub.add_parser(
        "classifier",
        help="train a text classifier (JSONL label/text) for m2v.Classifier (needs the [classifier] extra)",
        description="Train a logistic-regression head on the vectors the board computes; write it for "
        "m2v.Classifier. Training needs scikit-learn: pip install '" + PACKAGE + "[classifier]'.",
        epilog="examples:\n"
        "  m2v classifier firmware_assets/model.m2v train.jsonl -o intents.m2vc --test heldout.jsonl --reject\n"
        "  m2v classifier firmware_assets/model.m2v train.jsonl -o intents.m2vc --reject 0.05 --C 4\n"
        "  m2v classifier firmware_assets/model.m2v -o head.m2vc --from-model2vec my_classifier/",
        formatter_class=fmt,
    )
    k.add_argument("model", type=Path, help="m2v model binary that embeds the texts, e.g. firmware_assets/model.m2v")
    k.add_argument("train", type=Path, nargs="?", help="training texts, JSONL with label and text, e.g. train.jsonl")
    k.add_argument("-o", "--output", type=Path, required=True, help="the classifier file to write, e.g. -o x.m2vc")
    k.add_argument("--test", type=Path, help="held-out JSONL: log the accuracy on it, e.g. --test heldout.jsonl")
    k.add_argument(
        "--reject",
        type=float,
        nargs="?",
        const=0.1,
        metavar="FRACTION",
        help="store a rejection threshold: the FRACTION quantile (default 0.1) of the cross-validated "
        "top logits of the training texts, e.g. --reject or --reject 0.05",
    )
    k.add_argument("--C", dest="c", type=float,
                   help="inverse L2 strength (default: chosen by cross-validation), e.g. --C 4")  # fmt: skip
    k.add_argument("--from-model2vec", type=Path, metavar="DIR",
                   help="convert a model2vec classifier's linear head saved with save_pretrained, "
                   "e.g. --from-model2vec my_classifier/")  # fmt: skip

    f = sub.add_parser(
        "flash",
        help="install the package and a model on a board over USB/serial, verified",
        description="Compile the package for the board's architecture, copy it to /lib/m2v/, copy the model "
        "to /model.m2v.tmp (printing bytes and rate), check its size, CRC-32 and a load on the board, then "
        "rename it to /model.m2v, and embed a sentence on the board against the host reference.",
        epilog="examples:\n"
        "  m2v flash --port /dev/ttyACM0                        (Linux; COM3 on Windows, /dev/cu.usbmodem* on macOS)\n"
        "  m2v flash --port /dev/ttyUSB0 --model my_model.m2v\n"
        "  m2v flash --port /dev/ttyACM0 --model minishlab/potion-base-8M   (converted first; needs the [hub] extra)\n"
        "  m2v flash --port /dev/ttyACM0 --arch armv6m --dist /tmp/m2v-dist\n"
        "  m2v flash --port /dev/ttyACM0 --mode romfs           (custom firmware with a ROMFS partition)",
        formatter_class=fmt,
    )
    f.add_argument("--port", required=True, help="the board's serial port (or the virtual board's pty), e.g. COM3")
    f.add_argument("--model", help="an .m2v file, a model2vec folder or a hub id ORG/NAME "
                   "(default: the bundled firmware_assets/model.m2v), e.g. --model my_model.m2v")  # fmt: skip
    f.add_argument("--arch", help="mpy-cross -march (default: what the board reports), e.g. --arch armv6m")
    f.add_argument("--mode", default="fs", choices=["fs", "romfs"],
                   help="fs: the model in /model.m2v (stock firmware); romfs: in the ROMFS partition "
                   "(custom firmware), e.g. --mode romfs")  # fmt: skip
    f.add_argument("--dist", type=Path, help="where the .mpy builds go (default: dist/ in a clone, "
                   "~/.cache/m2v/dist when installed), e.g. --dist /tmp/m2v-dist")  # fmt: skip

    b = sub.add_parser(
        "bench",
        help="speed and heap figures (in a clone of the repository); appends to benchmarks/results.csv",
        description="Speed and heap of the default model on the unix MicroPython (or a board with --port) next "
        "to model2vec on CPython, or instructions per token on an emulated board with --board; appends to "
        "benchmarks/results.csv, then draws docs/instructions_per_token.png from it (with the [plot] extra). "
        "--suite runs one suite alone: embed (the embedding figures), learn (Index.add, search, class means), "
        "lock (the per-object lock's cost), index (m2v.Index search), classifier (m2v.Classifier predict).",
        epilog="examples:\n"
        "  m2v bench\n"
        "  m2v bench --port /dev/ttyACM0 --model my_model.m2v\n"
        "  m2v bench --board cortex-m0\n"
        "  m2v bench --suite lock --board rv32imc\n"
        "  m2v bench --suite index --suite-args '--sizes 1000 --queries 10'",
        formatter_class=fmt,
    )
    b.add_argument("--suite", choices=SUITES, help="one suite alone (default: embed, then learn and, on the "
                   "unix port, classifier), e.g. --suite lock")  # fmt: skip
    b.add_argument("--suite-args", metavar="ARGS", help="more options for the suite's own parser, quoted, e.g. "
                   "--suite-args '--adds 30' (learn), '--sizes 1000' (index), '--queries 10' (classifier)")  # fmt: skip
    b.add_argument("--py", action="store_true", help="index, classifier: also time the pure-Python scan")
    b.add_argument("--model", help="the .m2v model to time (default firmware_assets/model.m2v), e.g. --model x.m2v")
    b.add_argument("--port", help="time on this board instead of the unix port, e.g. --port /dev/ttyACM0")
    b.add_argument("--board", choices=EMULATED,
                   help="instructions per token on this emulated board, e.g. --board cortex-m0")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from host_tools.modeldir import ModelError

    try:
        if args.cmd == "convert":
            from host_tools.convert import convert

            convert(
                args.model_dir,
                args.output,
                centroids=args.centroids,
                dims=args.dims,
                max_length=args.max_length,
                weight_bits=args.weight_bits,
            )
        elif args.cmd == "index":
            from host_tools.index import write_index

            grow = {"grow": True, "label_max": args.label_max} if args.grow else {}
            write_index(args.model, args.texts, args.output, **grow)
        elif args.cmd == "classifier":
            if args.from_model2vec is None:
                require("sklearn", "classifier", "training a classifier")
            from host_tools.classifier import write_classifier

            write_classifier(
                args.model,
                args.train,
                args.output,
                test=args.test,
                reject=args.reject,
                c=args.c,
                from_model2vec=args.from_model2vec,
            )
        elif args.cmd == "flash":
            return _flash(args)
        elif args.cmd == "bench":
            return _bench(args)
        else:
            sys.stdout.write(_inspect(args.file) + "\n")
    except (ModelError, ValueError, OSError, CommandError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
