"""The model's lock taken inside the C core's one-call embed (m2v_native.c embed, docs/THREADS.md).

Model.embed_into has no exception handler of its own: the C call takes the model's lock and must
release it on every way out. On the unix port with the x64 C core, with the ``_thread`` lock and with
the owner flag of a port without ``_thread``: an exception raised inside the C call (the model's file
failing in the middle of an embed, after writing part of a page, or a KeyboardInterrupt) reaches the
caller, leaves the lock free and the model usable (the next embed equals the one computed before: no
page-cache slot keeps a tag over bytes the failed read wrote); a closed model still refuses.
"""

from __future__ import annotations

import pytest
from mpy import MODEL, WRAPPED_FILE

from scripts.board import UnixBoard

FAILING = WRAPPED_FILE + r"""
class Failing(Wrapped):
    # the model's file (the C core reads through it); armed (exc set), readinto writes part of
    # the page (other bytes), then raises exc, once
    def __init__(s, f):
        super().__init__(f)
        s.exc = None
    def readinto(s, b):
        if s.exc:
            b[:] = bytes([0x5A]) * len(b)
            e, s.exc = s.exc, None
            raise e
        return s.f.readinto(b)
"""

CODE = FAILING + r"""
import m2v, m2v.model
if NOLOCK:
    m2v.model.allocate_lock = None
f = Failing(open(MODEL, "rb"))
m = m2v.load(f, mode="file", ram=0)
t = "turn the kitchen lights on"
alone = m.embed(t)
g = m._guard
print("lock", g[0] is not None, m.impl["loop"])
for exc in (OSError(5), KeyboardInterrupt()):
    f.exc = exc
    try:
        m.embed(t)
        print("no error")
    except BaseException as e:
        print(type(e).__name__, "owner", g[1], "held", bool(g[0] and g[0].locked()))
    print("after", m.embed(t) == alone, m.impl["loop"], f.exc is None)
m.close()
try:
    m.embed(t)
except ValueError as e:
    print("closed", e)
"""


@pytest.mark.parametrize("nolock", [0, 1])
def test_exception_in_the_c_embed_releases_the_lock(nolock):
    with UnixBoard(heap="4M", native=True) as b:
        p = b.run(f"MODEL = {str(MODEL)!r}\nNOLOCK = {nolock}\n" + CODE, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines() == [
        f"lock {not nolock} native",
        "OSError owner 0 held False",
        "after True native True",
        "KeyboardInterrupt owner 0 held False",
        "after True native True",
        "closed m2v object is closed",
    ], p.stdout


STALE = FAILING + r"""
import m2v
m2v.use(KIND)
f = Failing(open(MODEL, "rb"))
m = m2v.load(f, mode="file", ram=0)
W = WORDS
ref = {w: m.embed(w) for w in W}
bad = []
for a in W:
    for b in W:
        if a != b:
            m.embed(a)  # a's pages in the cache; b's first miss fails in one of their slots
            f.exc = OSError(5)
            try:
                m.embed(b)
            except OSError:
                pass
            if m.embed(a) != ref[a]:
                bad.append((a, b))
print("pairs", len(W) * (len(W) - 1), "wrong", bad, m.impl["loop"])
"""


@pytest.mark.parametrize("kind", ["native", "py"])
def test_a_read_that_fails_part_way_leaves_no_stale_page(kind):
    """A page-cache slot whose read raised part way is not trusted later: every next embed is right."""
    words = ["lights", "a", "on", "turn", "kitchen", "zebra", "東京", "the"]
    if kind == "py":
        words = words[:5] + ["the"]
    with UnixBoard(heap="4M", native=True) as b:
        p = b.run(f"MODEL = {str(MODEL)!r}\nKIND = {kind!r}\nWORDS = {words!r}\n" + STALE, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    n = len(words) * (len(words) - 1)
    assert p.stdout.split("\n")[0] == f"pairs {n} wrong [] {kind}", p.stdout
