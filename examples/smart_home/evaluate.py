"""Smart-home intents on the host: the classifier against the index, and rejection of out-of-domain phrasings.

    .venv/bin/python -m examples.smart_home.evaluate

Builds build/smart_home/intents.m2vc (`python -m host_tools classifier
firmware_assets/model.m2v intents.jsonl -o ... --reject`) and the index of
the same phrasings, then prints: held-out top-1 accuracy of the classifier
and of the index (label of the nearest phrasing); with rejection on, the share
of held-out phrasings rejected and the accuracy on the rest; and the share of
out_of_domain.jsonl rejected, with what the classifier said for each. The
board gives the same labels and scores (tests/test_classifier_device.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from host_tools import classifier as hc
from host_tools import index as hindex

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

logger = logging.getLogger("smart_home")


def main(argv: list[str] | None = None) -> int:
    """Build the classifier, compare it with the index, log the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "firmware_assets" / "model.m2v")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "smart_home" / "intents.m2vc")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cmd = [sys.executable, "-m", "host_tools", "classifier", str(a.model), str(HERE / "intents.jsonl")]
    subprocess.run(cmd + ["-o", str(a.out), "--reject"], cwd=ROOT, check=True)
    clf = hc.Classifier(a.out, model=a.model)
    ref = clf.model
    items = hindex.read_items(HERE / "intents.jsonl", need_label=True)
    held = hindex.read_items(HERE / "heldout.jsonl", need_label=True)
    ood = [json.loads(line)["text"] for line in (HERE / "out_of_domain.jsonl").read_text().splitlines() if line]
    idx = hindex.Index(hindex.build_index(ref, items), model=ref)
    tops = idx.search_ids_batch([t for _, t in held], 1)
    n = len(held)
    i_ok = sum(idx.label(r[0][1]) == lab for r, (lab, _) in zip(tops, held))
    preds = [clf.predict(t) for _, t in held]
    c_ok = sum(max(clf.scores(t), key=lambda p: p[1])[0] == lab for lab, t in held)
    acc = [(p, lab) for p, (lab, _) in zip(preds, held) if p[0] is not None]
    a_ok = sum(p[0] == lab for p, lab in acc)
    logger.info("held-out phrasings: %d over %d intents", n, len({lab for lab, _ in held}))
    logger.info("top-1 accuracy: classifier %d/%d = %.1f %%, index %d/%d = %.1f %%", c_ok, n, 100 * c_ok / n, i_ok, n,
                100 * i_ok / n)  # fmt: skip
    logger.info("with rejection (threshold logit %.3f): %d/%d rejected (%.1f %%), %d/%d of the accepted correct "
                "(%.1f %%), %d/%d correct and accepted (%.1f %%)", clf.logit(clf.threshold), n - len(acc), n,
                100 * (n - len(acc)) / n, a_ok, len(acc), 100 * a_ok / len(acc), a_ok, n, 100 * a_ok / n)  # fmt: skip
    out = [clf.predict(t) for t in ood]
    rej = sum(lab is None for lab, _ in out)
    logger.info("out-of-domain phrasings: %d/%d rejected (%.1f %%)", rej, len(ood), 100 * rej / len(ood))
    for t, (lab, s) in zip(ood, out):
        logger.info("  %-16s logit %5.2f  %s", lab or "(rejected)", clf.logit(s), t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
