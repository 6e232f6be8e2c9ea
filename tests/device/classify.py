# Device-side check of m2v.Classifier, unchanged on the unix port and on a
# board: the data root is the first of /rom, . that holds clf.m2vc; it loads
# <root>/model.m2v and <root>/clf.m2vc, classifies every text of
# <root>/clf_texts.jsonl (one JSON string per line) and prints one short line
# per text, "label<TAB>score" (label None when rejected, "!Error" when the
# classifier raised), then "classify: N texts". The host compares the lines
# with host_tools.classifier.Classifier (tests/test_classifier_device.py).
import json
import os

import m2v


def _root():
    for r in ("/rom", "."):
        try:
            os.stat(r + "/clf.m2vc")
            return r
        except OSError:
            pass
    raise OSError("no clf.m2vc in /rom or .")


root = _root()
model = m2v.load(root + "/model.m2v")
clf = m2v.Classifier(root + "/clf.m2vc", model=model)
n = 0
with open(root + "/clf_texts.jsonl") as f:
    for line in f:
        if not line.strip():
            continue
        text = json.loads(line)
        try:
            label, score = clf.predict(text)
            print("%s\t%d" % (label, score))
        except Exception as e:  # reported, so that every text keeps its line
            print("!%s" % type(e).__name__)
        n += 1
print("classify: %d texts" % n)
