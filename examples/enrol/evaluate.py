"""Accuracy of a class-means classifier that learns from a few examples per intent (the host twin of the board).

    .venv/bin/python -m examples.enrol.evaluate [--seeds 20] [--min-cos 0.5]

For K = 1, 3 and 5, K phrasings per intent of examples/smart_home/intents.jsonl
(a seeded draw, repeated for --seeds draws) are enrolled into an empty
class-means file (``host_tools.classmeans``: the same bytes and the same
integer scores as ``m2v.ClassMeans`` on the board; tests/test_learn_device.py
checks that on the unix port). Printed per K, as the mean over the draws:
held-out top-1 accuracy (78 phrasings, rejection off), with rejection the
held-out phrasings rejected and the accepted ones that are right, and the
out-of-domain phrasings rejected (45). Then the same table for other
thresholds (--sweep).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from host_tools import classmeans as hcm
from host_tools import index as hindex
from host_tools import reference

ROOT = Path(__file__).resolve().parent.parent.parent

EX = ROOT / "examples" / "smart_home"
MODEL = ROOT / "firmware_assets" / "model.m2v"
log = logging.getLogger("enrol")


def draw(items: list[tuple[str, str]], k: int, seed: int) -> list[tuple[str, str]]:
    """K items per label, a seeded draw, in an order that interleaves the labels (as enrolment would)."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[str]] = {}
    for lab, t in items:
        by.setdefault(lab, []).append(t)
    picked = {lab: [ts[i] for i in rng.choice(len(ts), k, replace=False)] for lab, ts in sorted(by.items())}
    return [(lab, picked[lab][j]) for j in range(k) for lab in picked]


def evaluate(ref: reference.Reference, examples, held, ood, min_cos: float) -> dict[str, float]:
    """Enrol ``examples`` into an empty class-means file; return the figures on ``held`` and ``ood``."""
    clf = hcm.ClassMeans(hcm.create(ref, min_cos=min_cos), model=ref)
    for lab, t in examples:
        clf.learn(t, lab)
    pred = [clf.scores_list(t) for _, t in held]
    right = accepted = accepted_right = 0
    for (lab, _), s in zip(held, pred):
        best = int(np.argmax(s))
        ok = clf.classes[best] == lab
        right += ok
        if s[best] >= clf.threshold:
            accepted += 1
            accepted_right += ok
    rej_ood = sum(clf.predict(t)[0] is None for t in ood)
    return {
        "acc": right / len(held),
        "held_rej": 1 - accepted / len(held),
        "acc_accepted": accepted_right / max(accepted, 1),
        "ood_rej": rej_ood / len(ood),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--min-cos", type=float, default=0.5)
    ap.add_argument("--sweep", type=float, nargs="*", default=[])
    a = ap.parse_args(argv)
    ref = reference.load(MODEL)
    items = hindex.read_items(EX / "intents.jsonl", need_label=True)
    held = hindex.read_items(EX / "heldout.jsonl", need_label=True)
    ood = [json.loads(ln)["text"] for ln in (EX / "out_of_domain.jsonl").read_text().splitlines() if ln.strip()]
    for min_cos in [a.min_cos, *a.sweep]:
        log.info("min_cos %.2f, mean over %d draws", min_cos, a.seeds)
        log.info("%3s %9s %13s %17s %13s", "K", "held-out", "held rejected", "accepted correct", "OOD rejected")
        for k in (1, 3, 5):
            rs = [evaluate(ref, draw(items, k, s), held, ood, min_cos) for s in range(a.seeds)]
            m = {key: float(np.mean([r[key] for r in rs])) for key in rs[0]}
            log.info("%3d %8.1f%% %12.1f%% %16.1f%% %12.1f%%", k, 100 * m["acc"], 100 * m["held_rej"],
                     100 * m["acc_accepted"], 100 * m["ood_rej"])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
