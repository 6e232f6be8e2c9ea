"""Threads sharing one Model, Index and Classifier on the unix port (its ``_thread`` has no GIL).

tests/device/threads.py computes every result alone first (embed, tokenize,
search k=3, predict), then lets threads share the three objects, each thread
on its own seeded sequence of texts and calls, and checks every result
against the one computed alone: buffer and file mode, the package's x64 C
core and the pure-Python kind. Every call must give that result: no wrong
vector, no exception, no crash, no hang. Objects of their own per thread
(several objects) are checked the same way. A call re-entered from the
thread that is inside a call on the object (a callback) raises RuntimeError;
a closed object raises ValueError (docs/THREADS.md).

Rounds are small in ``make test``; ``-m slow`` runs 4 threads x 3,000 rounds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mpy import MODEL, WRAPPED_FILE, native_device, run_py

from host_tools import classifier as hc
from host_tools import index as hindex
from host_tools import reference
from scripts.board import UnixBoard

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "device" / "threads.py"
CORPUS = ROOT / "tests" / "corpus" / "multilingual.jsonl"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The package with the x64 C core, an index of 300 corpus texts, the smart-home classifier, query texts."""
    d = tmp_path_factory.mktemp("threads")
    native_device(d / "dev")
    ref = reference.load(MODEL)
    corpus = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    (d / "index.m2vi").write_bytes(hindex.build_index(ref, [(t, f"e{i}") for i, t in enumerate(corpus[:300])]))
    items = hindex.read_items(ROOT / "examples" / "smart_home" / "intents.jsonl", need_label=True)
    (d / "clf.m2vc").write_bytes(hc.train(ref, items, c=30.0, reject=0.1))
    long = corpus[::60][:40] + ["lights on", "Licht an im Wohnzimmer", "", "x" * 300, "ok " * 200]
    short = [t for t in corpus[::40] if len(t) < 80][:12] + ["lights on", ""]  # the pure-Python kind is slow
    for name, texts in (("long", long), ("short", short)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts))
    return {"dir": d, "dev": d / "dev", "index": d / "index.m2vi", "clf": d / "clf.m2vc"}


def run_threads(files, mode: str, impl: str, threads: int, rounds: int, seed: int = 1, own: bool = False) -> dict:
    texts = files["dir"] / ("short.jsonl" if impl == "py" else "long.jsonl")
    args = [mode, impl, str(MODEL), str(files["index"]), str(files["clf"]), str(texts), str(threads), str(rounds),
            str(seed)]  # fmt: skip
    if own:
        args.append("own")
    with UnixBoard(heap="8M", device=files["dev"]) as b:
        p = b.run_script(HARNESS, *args, timeout=900)
    assert p.returncode == 0, f"rc {p.returncode} (a crash or a hang)\n{p.stdout[-2000:]}{p.stderr[-2000:]}"
    lines = dict(line.split(" ", 1) for line in p.stdout.splitlines() if " " in line and not line.startswith("impl"))
    out = {"ok": int(lines["ok"]), "bad": lines["bad"], "exc": lines["exc"], "impl": p.stdout.splitlines()[-1]}
    assert out["bad"].strip() == "0", out
    assert out["exc"].startswith("0 "), out
    assert out["ok"] == threads * rounds, out
    # what ran: the C core (in file mode too: it reads the page cache itself), or pure Python
    want = "impl=" + impl
    assert out["impl"].startswith(want), out
    return out


@pytest.mark.parametrize("impl,rounds", [("native", 600), ("py", 40)])
@pytest.mark.parametrize("mode", ["buf", "file"])
def test_threads_share_one_model_index_classifier(files, mode, impl, rounds, report):
    out = run_threads(files, mode, impl, 2, rounds)
    report(f"threads {mode}/{impl}: 2 threads x {rounds} calls, all equal to alone", out["impl"])


def test_threads_with_objects_of_their_own(files):
    run_threads(files, "file", "native", 3, 200, seed=3, own=True)


@pytest.mark.slow
@pytest.mark.parametrize("impl,rounds", [("native", 3000), ("py", 200)])
@pytest.mark.parametrize("mode", ["buf", "file"])
def test_threads_long(files, mode, impl, rounds):
    for seed in (1, 2):
        run_threads(files, mode, impl, 4, rounds, seed=seed)
        run_threads(files, mode, impl, 3, rounds // 2, seed=seed, own=True)


# A model file and an index file whose reads call the object again from the
# same thread, as a micropython.schedule callback or an interrupt handler that
# runs in the middle of a call would; with _thread (NOLOCK=0) and with the
# flag of ports without it (NOLOCK=1).
REENTRY = WRAPPED_FILE + r"""
import m2v, m2v.model
if NOLOCK:
    m2v.model.allocate_lock = None
class Back(Wrapped):
    def __init__(s, f, call):
        super().__init__(f)
        s.call, s.armed, s.errs = call, False, []
    def readinto(s, b):
        if s.armed:
            s.armed = False
            try:
                s.call()
                s.errs.append("no error")
            except RuntimeError as e:
                s.errs.append("RuntimeError: " + str(e))
        return s.f.readinto(b)
m = None
fm = Back(open(MODEL, "rb"), lambda: m.embed("again"))
m = m2v.load(fm, mode="file", ram=0)
print("lock", m._guard[0] is not None)
t = "turn the kitchen lights on"
alone = m.embed(t)
fm.armed = True
print("model", m.embed(t) == alone, fm.errs)
idx = None
fi = Back(open(INDEX, "rb"), lambda: idx.search("again", 2))
idx = m2v.Index(fi, model=m, mode="file", check_crc=False)
alone = idx.search(t, 2)
fi.armed = True
print("index", idx.search(t, 2) == alone, fi.errs)
m.close()
for f in (lambda: m.embed(t), lambda: m.tokenize(t), lambda: idx.search(t, 2)):
    try:
        f()
        print("closed no error")
    except ValueError as e:
        print("closed", e)
idx.close()
try:
    idx.search([0] * idx.dims, 2)
except ValueError as e:
    print("closed", e)
m.close()
idx.close()
print("done")
"""


@pytest.mark.parametrize("nolock", [0, 1])
def test_reentry_raises_and_closed_objects_refuse(files, nolock):
    code = f"MODEL = {str(MODEL)!r}\nINDEX = {str(files['index'])!r}\nNOLOCK = {nolock}\n" + REENTRY
    p = run_py(code, heapsize="4M", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    err = "RuntimeError: m2v object re-entered by a callback while in use in this thread"
    assert p.stdout.splitlines() == [
        f"lock {not nolock}",
        f"model True ['{err}']",
        f"index True ['{err}']",
        *["closed m2v object is closed"] * 4,
        "done",
    ], p.stdout


# Threads that call m2v.embed() before any model is loaded: one load of the default model
# (counted through m2v.Model), every vector equal to the one computed after.
FIRST_LOAD = r"""
import _thread, time, m2v
from m2v import model as M
loads = [0]
class Counted(M.Model):
    def __init__(self, *a):
        loads[0] += 1
        super().__init__(*a)
m2v.Model = Counted
texts = ["turn on the lights", "Wie spät ist es?", "naïve café", "ok"]
got = {}
done = []
lk = _thread.allocate_lock()
def worker(i):
    v = bytes(m2v.embed(texts[i]))
    with lk:
        got[i] = v
        done.append(i)
for i in range(len(texts)):
    _thread.start_new_thread(worker, (i,))
t0 = time.ticks_ms()
while len(done) < len(texts) and time.ticks_diff(time.ticks_ms(), t0) < 60000:
    time.sleep_ms(5)
print("loads", loads[0], "done", len(done))
print("equal", all(got[i] == bytes(m2v._model().embed(texts[i])) for i in range(len(texts))))
"""


def test_threads_first_use_load_the_default_model_once(files, tmp_path):
    os.symlink(MODEL, tmp_path / "model.m2v")  # m2v.DEFAULT_PATHS: model.m2v in the working directory
    p = UnixBoard(heap="8M", device=files["dev"]).run(FIRST_LOAD, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines() == ["loads 1 done 4", "equal True"], p.stdout + p.stderr
