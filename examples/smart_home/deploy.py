"""Smart-home intent matcher: build the index, copy it to a board flashed with `make flash`, test held-out phrasings.

    make vboard                                     # prints the virtual board's port
    make flash PORT=<port>                          # package + model
    .venv/bin/python -m examples.smart_home.deploy --port <port>

1. builds build/smart_home/intents.m2vi from intents.jsonl with the host tools
   (`python -m host_tools index firmware_assets/model.m2v ... -o ...`);
2. copies it to :intents.m2vi.tmp with mpremote, checks size and CRC-32 on the
   board and that m2v.Index opens it, then renames it to :intents.m2vi;
3. runs every phrasing of heldout.jsonl through m2v.Index.search on the board,
   checks the results against the host search (same labels, order, scores),
   and prints the intent accuracy (top-1, and a score-weighted vote of the top 5)
   and the time per query on the board;
4. the same for the classifier: builds build/smart_home/intents.m2vc
   (`python -m host_tools classifier ... --reject`), installs it as
   :intents.m2vc, runs m2v.Classifier.predict on every held-out and
   out-of-domain phrasing on the board, checks label and score against the
   host, and prints the accuracy, the rejections and the time per prediction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from host_tools import index as hindex
from scripts import flash

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

K = 5

QUERY = """
import gc, json, time, m2v
idx = m2v.Index('intents.m2vi')
m2v._model()
out = []
for t in {texts!r}:
    gc.collect()
    a = gc.mem_alloc()
    t0 = time.ticks_us()
    r = idx.search_ids(t, {k})
    dt = time.ticks_diff(time.ticks_us(), t0)
    out.append([[[s, i, idx.label(i)] for s, i in r], dt, gc.mem_alloc() - a])
print('@@' + json.dumps(out))
"""


CLASSIFY = """
import gc, time, json, m2v
clf = m2v.Classifier('intents.m2vc')
m2v._model()
out = []
for t in {texts!r}:
    gc.collect()
    a = gc.mem_alloc()
    t0 = time.ticks_us()
    r = clf.predict(t)
    dt = time.ticks_diff(time.ticks_us(), t0)
    out.append([list(r), dt, gc.mem_alloc() - a])
print('@@' + json.dumps(out))
"""


def build_classifier(model: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "host_tools", "classifier", str(model), str(HERE / "intents.jsonl"), "-o", str(out),
         "--reject"],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    return out


def classify_on_board(port: str, model: Path, path: Path) -> int:
    """Install the classifier, classify held-out and out-of-domain phrasings on the board; return the mismatches."""
    from host_tools import classifier as hc

    flash.install_file(port, path, "intents.m2vc", "import m2v\nm2v.Classifier(p).close()")
    held = [json.loads(line) for line in (HERE / "heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    ood = [json.loads(line)["text"] for line in (HERE / "out_of_domain.jsonl").read_text().splitlines() if line]
    texts = [h["text"] for h in held] + ood
    res = []
    for b in range(0, len(texts), 20):
        res += flash.board_json(port, CLASSIFY.format(texts=texts[b : b + 20]), timeout=600)
    host = hc.Classifier(path, model=model)
    mismatches = sum(r[0] != list(host.predict(t)) for r, t in zip(res, texts))
    n = len(held)
    ok = sum(r[0][0] == h["label"] for r, h in zip(res, held))
    rej = sum(r[0][0] is None for r in res[:n])
    o_rej = sum(r[0][0] is None for r in res[n:])
    us = sorted(r[1] for r in res)
    print(f"\nclassifier ({path.stat().st_size} bytes, threshold logit {host.logit(host.threshold):.3f}):")
    print(f"held-out: {ok}/{n} = {ok / n:.1%} accepted and correct, {rej} rejected; "
          f"out-of-domain: {o_rej}/{len(ood)} rejected")  # fmt: skip
    print(f"board vs host classifier: {mismatches} mismatches (labels, scores) over {len(texts)} phrasings")
    print(f"board: median {us[len(us) // 2] / 1000:.2f} ms per prediction (embed + classify); "
          f"heap allocated per prediction up to {max(r[2] for r in res)} B")  # fmt: skip
    return mismatches


def build(model: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "host_tools", "index", str(model), str(HERE / "intents.jsonl"), "-o", str(out)],
        cwd=ROOT,
        check=True,
    )
    return out


def copy_index(port: str, path: Path) -> None:
    flash.install_file(port, path, "intents.m2vi", "import m2v\nidx = m2v.Index(p)\nidx.close()")


def vote(results: list) -> str:
    w: dict[str, int] = defaultdict(int)
    for s, _, label in results:
        w[label] += max(s, 0)
    return max(w, key=lambda lab: (w[lab], -[r[2] for r in results].index(lab)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="the board (make vboard prints the virtual board's port)")
    ap.add_argument("--model", type=Path, default=ROOT / "firmware_assets" / "model.m2v")
    ap.add_argument("--index", type=Path, default=ROOT / "build" / "smart_home" / "intents.m2vi")
    ap.add_argument("--classifier", type=Path, default=ROOT / "build" / "smart_home" / "intents.m2vc")
    a = ap.parse_args(argv)
    try:
        build(a.model, a.index)
        copy_index(a.port, a.index)
        held = [json.loads(line) for line in (HERE / "heldout.jsonl").read_text(encoding="utf-8").splitlines()]
        texts = [h["text"] for h in held]
        res = []
        for b in range(0, len(texts), 20):  # keep each exec small
            res += flash.board_json(a.port, QUERY.format(texts=texts[b : b + 20], k=K), timeout=600)
    except (flash.FlashError, subprocess.CalledProcessError, OSError) as e:
        print(f"smart_home: failed: {e}", file=sys.stderr)
        return 1
    host = hindex.Index(a.index, model=a.model)
    want = [[[s, i, host.label(i)] for s, i in r] for r in host.search_ids_batch(texts, K)]
    mismatches = sum(r[0] != w for r, w in zip(res, want))
    top1 = sum(r[0][0][2] == h["label"] for r, h in zip(res, held))
    voted = sum(vote(r[0]) == h["label"] for r, h in zip(res, held))
    for r, h in zip(res, held):
        mark = "ok " if r[0][0][2] == h["label"] else "MISS"
        cos = host.cosine(r[0][0][0])
        print(f"{mark} {h['text']!r:48} -> {r[0][0][2]:16} cos {cos:.3f}  (want {h['label']})")
    us = sorted(r[1] for r in res)
    n = len(held)
    print(f"\nheld-out phrasings: {n} over {len({h['label'] for h in held})} intents, index of {host.count} phrasings")
    print(f"top-1 accuracy: {top1}/{n} = {top1 / n:.1%}; top-{K} score-weighted vote: {voted}/{n} = {voted / n:.1%}")
    print(f"board vs host search: {mismatches} mismatches (labels, order, scores)")
    print(f"board: median {us[n // 2] / 1000:.1f} ms per query (embed + search), max {us[-1] / 1000:.1f} ms; "
          f"heap allocated per search up to {max(r[2] for r in res)} B")  # fmt: skip
    try:
        build_classifier(a.model, a.classifier)
        mismatches += classify_on_board(a.port, a.model, a.classifier)
    except (flash.FlashError, subprocess.CalledProcessError, OSError) as e:
        print(f"smart_home: failed: {e}", file=sys.stderr)
        return 1
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
