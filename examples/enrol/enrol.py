"""Teach a board new phrases, then let it recognise them: a class-means classifier that learns on the board.

    make vboard                                     # prints the virtual board's port
    make flash PORT=<port>                          # package + model
    .venv/bin/python -m examples.enrol.enrol --port <port> [--k 3]

1. on the board: ``m2v.classmeans.create("commands.m2vi")`` writes an empty
   class-means file, then ``clf.learn(text, intent)`` enrols K phrasings per
   intent of examples/smart_home/intents.jsonl (a seeded draw), each one
   appended to the file and flushed (power-loss safe: docs/LEARNING.md);
2. on the board: ``clf.predict(text)`` on every held-out and out-of-domain
   phrasing of examples/smart_home, with the time per prediction;
3. on the host: the file is copied back, read by ``host_tools.classmeans``
   (the board's arithmetic in CPython) and every prediction is compared,
   label and score; prints the accuracy and the rejections.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from host_tools import classmeans as hcm
from host_tools import index as hindex
from scripts import flash

from .evaluate import EX, draw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

log = logging.getLogger("enrol")

CREATE = """
import m2v.classmeans as cm
cm.create("commands.m2vi", min_cos={min_cos})
print("@@[]")
"""

LEARN = """
import gc, json, time, m2v
clf = m2v.ClassMeans("commands.m2vi")
out = []
for label, text in {examples!r}:
    gc.collect()
    a = gc.mem_alloc()
    t0 = time.ticks_us()
    clf.learn(text, label)
    out.append([time.ticks_diff(time.ticks_us(), t0), gc.mem_alloc() - a])
clf.close()
print("@@" + json.dumps(out))
"""

PREDICT = """
import json, time, m2v
clf = m2v.ClassMeans("commands.m2vi")
out = []
for text in {texts!r}:
    t0 = time.ticks_us()
    r = clf.predict(text)
    out.append([list(r), time.ticks_diff(time.ticks_us(), t0)])
clf.close()
print("@@" + json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    """Enrol, recognise, check against the host; 0 when the board and the host agree on every phrasing."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="the board (make vboard prints the virtual board's port)")
    ap.add_argument("--k", type=int, default=3, help="phrasings enrolled per intent (3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-cos", type=float, default=0.5, help="reject below this cosine with the class mean")
    ap.add_argument("--limit", type=int, default=0, help="test only the first N held-out and out-of-domain phrasings")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "enrol" / "commands.m2vi")
    a = ap.parse_args(argv)
    examples = [list(x) for x in draw(hindex.read_items(EX / "intents.jsonl", need_label=True), a.k, a.seed)]
    held = hindex.read_items(EX / "heldout.jsonl", need_label=True)
    ood = [json.loads(ln)["text"] for ln in (EX / "out_of_domain.jsonl").read_text().splitlines() if ln.strip()]
    if a.limit:
        held, ood = held[: a.limit], ood[: a.limit]
    texts = [t for _, t in held] + ood
    try:
        flash.board_json(a.port, CREATE.format(min_cos=a.min_cos))
        learnt = []
        for b in range(0, len(examples), 13):  # keep each exec small
            learnt += flash.board_json(a.port, LEARN.format(examples=examples[b : b + 13]), timeout=600)
        res = []
        for b in range(0, len(texts), 20):
            res += flash.board_json(a.port, PREDICT.format(texts=texts[b : b + 20]), timeout=600)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        flash.mpremote(a.port, "fs", "cp", ":commands.m2vi", str(a.out))
    except (flash.FlashError, OSError) as e:
        log.error("enrol: failed: %s", e)
        return 1
    host = hcm.ClassMeans(a.out.read_bytes())
    mismatches = sum(r[0] != list(host.predict(t)) for r, t in zip(res, texts))
    n = len(held)
    for r, (lab, t) in zip(res, held):
        log.info("%s %-48r -> %-16s (want %s)", "ok  " if r[0][0] == lab else "MISS", t, r[0][0], lab)
    right = sum(r[0][0] == lab for r, (lab, _) in zip(res, held))
    rejected = sum(r[0][0] is None for r in res[:n])
    ood_rej = sum(r[0][0] is None for r in res[n:])
    us = sorted(r[1] for r in res)
    learn_us = sorted(x[0] for x in learnt)
    log.info("\nenrolled on the board: %d phrasings (%d per intent), file %d bytes; median %.2f ms per learn "
             "(embed + append + flush), heap allocated per learn up to %d B", len(examples), a.k,
             a.out.stat().st_size, learn_us[len(learn_us) // 2] / 1000, max(x[1] for x in learnt))  # fmt: skip
    log.info("held-out: %d/%d = %.1f%% accepted and correct, %d rejected; out-of-domain: %d/%d rejected",
             right, n, 100 * right / n, rejected, ood_rej, len(ood))  # fmt: skip
    log.info("board vs host: %d mismatches (labels, scores) over %d phrasings; median %.2f ms per prediction",
             mismatches, len(texts), us[len(us) // 2] / 1000)  # fmt: skip
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
