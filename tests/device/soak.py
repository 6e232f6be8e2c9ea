# A long run on a small board: embeds, index searches and predictions
# interleaved, every result checked, the free heap sampled. The data root is
# the first of /rom, . that holds soak.json: {"texts": [...], "crc": [CRC-32
# of each text's vector], "search": [[[score, label], ...] k=3 per text],
# "predict": [[label, score] per text]} computed on the host, with
# model.m2v, soak.m2vi (an index) and soak.m2vc (a classifier) beside it.
# The model is read in place from /rom (streamed elsewhere), the index and
# the classifier are streamed (file mode). sys.argv[1]: rounds (3 calls
# each, on text round % len(texts)). Prints "soak: C calls, B wrong, E
# errors" and "heap: free min F0 max F1" (gc.mem_free() after gc.collect()
# at the end of every pass over the texts but the first).
import gc
import json
import os
import sys
from array import array
from binascii import crc32

import m2v


def _root():
    for r in ("/rom", "."):
        try:
            os.stat(r + "/soak.json")
            return r
        except OSError:
            pass
    raise OSError("no soak.json in /rom or .")


root = _root()
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
with open(root + "/soak.json") as f:
    want = json.load(f)
texts = want["texts"]
model = m2v.load(root + "/model.m2v")  # /rom: read in place; elsewhere streamed
idx = m2v.Index(root + "/soak.m2vi", model=model, mode="file")
clf = m2v.Classifier(root + "/soak.m2vc", model=model, mode="file")
out = array("h", bytes(2 * model.dims))
n = len(texts)
calls = bad = errors = 0
lo = hi = None
for r in range(rounds):
    i = r % n
    t = texts[i]
    try:
        model.embed_into(t, out)
        bad += (crc32(out) & 0xFFFFFFFF) != want["crc"][i]
        got = idx.search(t, 3)
        bad += [[s, lb] for s, lb in got] != want["search"][i]
        label, score = clf.predict(t)
        bad += [label, score] != want["predict"][i]
    except Exception as e:  # counted, and the first few shown: a soak must not stop at one
        errors += 1
        if errors <= 3:
            print("error:", type(e).__name__, e)
    calls += 3
    if r >= n and i == n - 1:  # after each pass but the first, at the same text: the same live objects
        gc.collect()
        free = gc.mem_free()
        lo = free if lo is None or free < lo else lo
        hi = free if hi is None or free > hi else hi
print("soak: %d calls, %d wrong, %d errors" % (calls, bad, errors))
print("heap: free min %d max %d" % (lo or 0, hi or 0))
