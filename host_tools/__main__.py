"""Command line: ``python -m host_tools {convert,inspect,index,classifier} ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from host_tools import binfmt as bf

logger = logging.getLogger("host_tools")


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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m host_tools", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="convert a model2vec model (folder or hub id) into an m2v binary")
    c.add_argument("model_dir", help="a model2vec model folder, or a Hugging Face hub id ORG/NAME (downloaded "
                   "into the Hugging Face cache; HF_HUB_OFFLINE=1 reads only the cache)")  # fmt: skip
    c.add_argument("-o", "--output", type=Path, required=True)
    c.add_argument("--centroids", type=int, help="re-quantise the vocabulary into N centroids (k-means)")
    c.add_argument("--dims", type=int, help="keep the first D dimensions")
    c.add_argument("--max-length", type=int, help="token truncation (default: the model's config)")
    c.add_argument("--weight-bits", type=int, default=7, help="bits per token weight code (default 7)")
    i = sub.add_parser("inspect", help="print the header fields and sections of an m2v binary")
    i.add_argument("file", type=Path)
    x = sub.add_parser("index", help="build a search index (one text per line, or JSONL label/text)")
    x.add_argument("model", type=Path, help="m2v model binary that embeds the texts")
    x.add_argument("texts", type=Path)
    x.add_argument("-o", "--output", type=Path, required=True)
    x.add_argument("--grow", action="store_true", help="version 2: the board can append entries (m2v.Index.add)")
    x.add_argument("--label-max", type=int, default=32, help="--grow: longest appended label, UTF-8 bytes (32)")
    k = sub.add_parser("classifier", help="train a text classifier (JSONL label/text) for m2v.Classifier")
    k.add_argument("model", type=Path, help="m2v model binary that embeds the texts")
    k.add_argument("train", type=Path, nargs="?", help="training texts, JSONL with label and text")
    k.add_argument("-o", "--output", type=Path, required=True)
    k.add_argument("--test", type=Path, help="held-out JSONL: log the accuracy on it")
    k.add_argument(
        "--reject",
        type=float,
        nargs="?",
        const=0.1,
        metavar="FRACTION",
        help="store a rejection threshold: the FRACTION quantile (default 0.1) of the cross-validated "
        "top logits of the training texts",
    )
    k.add_argument("--C", dest="c", type=float, help="inverse L2 strength (default: chosen by cross-validation)")
    k.add_argument("--from-model2vec", type=Path, metavar="DIR", help="convert a model2vec classifier's linear head")
    args = parser.parse_args(argv)
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
        else:
            sys.stdout.write(_inspect(args.file) + "\n")
    except (ModelError, ValueError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
