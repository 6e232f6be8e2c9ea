# The per-object lock of a Model, an Index and a Classifier (docs/THREADS.md).
# Their state (the tokenizer's c and OUT, the accumulator, the page cache,
# the file position, the query and score buffers) is per object and a call
# rewrites it, so one call at a time may run on an object. Each public entry
# point holds the object's lock for the whole call: enter(o._guard) ...
# finally leave(o._guard) (Model.embed_into writes them out: a Python call costs about
# 1,000 instructions on a Cortex-M0); private methods (_name) run under it
# and never take it again. Lock order: an Index or a Classifier, then its
# model (search and predict embed the query); a model calls out to nothing,
# so no cycle can form.
#
# o._guard (a Guard): lk, a _thread lock, or None on a port without _thread;
# owner: 0 (no call), the get_ident() of the thread in a call (1 without
# _thread), or _CLOSED. With _thread, a call on an object another thread is in waits for
# it; the same thread entering an object again before its call returned (a
# micropython.schedule or interrupt callback that runs between two bytecodes
# of the call) raises RuntimeError, as waiting would hang. Without _thread,
# only such a re-entry can overlap a call: the owner field catches it. close()
# waits for the call in progress; calls after it raise ValueError. The cost
# is per call, never per token.
from micropython import const

try:
    from _thread import allocate_lock, get_ident
except ImportError:  # a port without threads
    allocate_lock = get_ident = None

_CLOSED = const(-1)
_REENTRY = "m2v object re-entered by a callback while in use in this thread"


class Guard:
    # An object's lock state, in one attribute of the object (o._guard): a
    # Model's instance dict is near full, and two more entries made every
    # method lookup on it (a miss there) 2,300 instructions slower on a Cortex-M0.
    def __init__(self):
        self.lk = allocate_lock() if allocate_lock else None
        self.owner = 0


def enter(g):
    # Take guard g; return with it held, or raise RuntimeError (a re-entry) or ValueError (closed).
    lk = g.lk
    if lk is None:
        if g.owner:
            refuse(g)
        g.owner = 1
    else:
        if not lk.acquire(0):
            wait(g, lk)
        if g.owner:
            refuse(g)
        g.owner = get_ident()


def wait(g, lk):
    # lk is held: by another thread (wait for its call to end) or by this one (a re-entry: raise).
    if g.owner == get_ident():
        raise RuntimeError(_REENTRY)
    lk.acquire()


def refuse(g):
    # g.owner was set on entry: closed, or (no _thread) a call is in progress.
    if g.lk is not None:
        g.lk.release()
    if g.owner == _CLOSED:
        raise ValueError("m2v object is closed")
    raise RuntimeError(_REENTRY)


def leave(g):
    g.owner = 0
    if g.lk is not None:
        g.lk.release()


def close(g, f):
    # o.close(): f() closes o's file under guard g, once; when it returns
    # true (a buffer has nothing to close), calls on o raise ValueError.
    try:
        enter(g)
    except ValueError:  # closed already
        return
    shut = 0
    try:
        shut = f()
    finally:
        g.owner = _CLOSED if shut else 0
        if g.lk is not None:
            g.lk.release()
