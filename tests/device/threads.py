# Threads sharing one model, one index and one classifier, on the unix port
# (its _thread has no GIL, like the RP2040's second core). Usage:
#   micropython threads.py MODE IMPL MODEL INDEX CLF TEXTS THREADS ROUNDS [SEED [OWN]]
# with the package on sys.path (scripts/board.py's UnixBoard.run_script).
# MODE: file or buf; IMPL: native or py (m2v.use: the tokenizer, pooling and the
# scan of the index and classifier). Every text
# of TEXTS (one JSON string per line) is first embedded, searched (k=3) and
# classified alone, in the main thread; then THREADS threads share the three
# objects for ROUNDS rounds each, every thread doing the three calls on a
# text chosen by its own seeded sequence, and compare each result with the
# one computed alone. Output lines: "ok N" (results checked equal), "bad N"
# with the first few differences, "exc N" with the exception kinds, and
# "impl=..." (what the last embed ran); "hang" if the threads did not finish
# in the time allowed. OWN=own: every thread gets objects of its own (several
# objects, one per thread) instead of sharing the first ones.
import _thread
import json
import sys
import time

mode, impl, model_p, index_p, clf_p, texts_p = sys.argv[1:7]
n_threads, rounds = int(sys.argv[7]), int(sys.argv[8])
seed = int(sys.argv[9]) if len(sys.argv) > 9 else 1
own = len(sys.argv) > 10 and sys.argv[10] == "own"
import m2v

m2v.use(impl)



def objects():
    m = m2v.load(model_p, mode=mode, ram=0 if mode == "file" else None)
    return m, m2v.Index(index_p, model=m, mode=mode), m2v.Classifier(clf_p, model=m, mode=mode)


model, idx, clf = objs = objects()
mine = [objects() if own and t else objs for t in range(n_threads)]
with open(texts_p) as f:
    texts = [json.loads(line) for line in f if line.strip()]

# alone: one thread, one call at a time
want_v = [bytes(model.embed(t)) for t in texts]
want_s = [idx.search(t, 3) for t in texts]
want_p = [clf.predict(t) for t in texts]
want_t = [model.tokenize(t) for t in texts]

state = {"ok": 0, "bad": [], "exc": {}, "done": 0}
guard = _thread.allocate_lock()  # the harness's own counters


def worker(tid):
    model, idx, clf = mine[tid]
    ok = 0
    bad = []
    exc = {}
    x = seed * 7919 + tid * 104729 + 1
    n = len(texts)
    for r in range(rounds):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        i = x % n
        what = (x >> 8) & 3
        try:
            if what == 0:
                got = bytes(model.embed(texts[i]))
                same = got == want_v[i]
            elif what == 1:
                got = idx.search(texts[i], 3)
                same = got == want_s[i]
            elif what == 2:
                got = clf.predict(texts[i])
                same = got == want_p[i]
            else:
                got = model.tokenize(texts[i])
                same = got == want_t[i]
        except Exception as e:
            k = type(e).__name__ + ": " + str(e)
            exc[k] = exc.get(k, 0) + 1
            continue
        if same:
            ok += 1
        elif len(bad) < 3:
            bad.append("t%d r%d %s text %d" % (tid, r, ("embed", "search", "predict", "tokenize")[what], i))
        else:
            bad.append(None)
    with guard:
        state["ok"] += ok
        state["bad"] += bad
        for k in exc:
            state["exc"][k] = state["exc"].get(k, 0) + exc[k]
        state["done"] += 1


t0 = time.ticks_ms()
for tid in range(n_threads):
    _thread.start_new_thread(worker, (tid,))
limit = 60000 + rounds * n_threads * 20  # ms; far above a normal run
while True:
    with guard:
        if state["done"] == n_threads:
            break
    if time.ticks_diff(time.ticks_ms(), t0) > limit:
        print("hang")
        sys.exit(3)
    time.sleep_ms(5)
print("ok", state["ok"])
bad = state["bad"]
print("bad", len(bad), " ".join(b for b in bad if b))
print("exc", sum(state["exc"].values()), json.dumps(state["exc"]))
print("impl=%s loop=%s ms=%d" % (model.impl["tok"], model.impl["loop"], time.ticks_diff(time.ticks_ms(), t0)))
