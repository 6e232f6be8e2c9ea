# The per-object lock of a Model, an Index and a Classifier (docs/THREADS.md).
# Their state (the tokenizer's c and OUT, the accumulator, the page cache,
# the file position, the query and score buffers) is per object and a call
# rewrites it, so one call at a time may run on an object. Each public entry
# point holds the object's lock for the whole call: enter(o) ... finally
# leave(o) (Model.embed_into writes them out: a Python call costs about
# 1,000 instructions on a Cortex-M0); private methods (_name) run under it
# and never take it again. Lock order: an Index or a Classifier, then its
# model (search and predict embed the query); a model calls out to nothing,
# so no cycle can form.
#
# o._lk: a _thread lock, or None on a port without _thread; o._owner: 0 (no
# call), the get_ident() of the thread in a call (1 without _thread), or
# _CLOSED. With _thread, a call on an object another thread is in waits for
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


def new():
    # An object's lock: None where the port has no _thread.
    return allocate_lock() if allocate_lock else None


def enter(o):
    # Take o's lock; return with it held, or raise RuntimeError (a re-entry) or ValueError (o is closed).
    lk = o._lk
    if lk is None:
        if o._owner:
            refuse(o, None)
        o._owner = 1
    else:
        if not lk.acquire(0):
            wait(o, lk)
        if o._owner:
            refuse(o, lk)
        o._owner = get_ident()


def wait(o, lk):
    # lk is held: by another thread (wait for its call to end) or by this one (a re-entry: raise).
    if o._owner == get_ident():
        raise RuntimeError("m2v object re-entered by a callback while in use in this thread")
    lk.acquire()


def refuse(o, lk):
    # o._owner was set on entry: o is closed, or (no _thread) a call on it is in progress.
    if lk is not None:
        lk.release()
    if o._owner == _CLOSED:
        raise ValueError("m2v object is closed")
    raise RuntimeError("m2v object re-entered by a callback while in use in this thread")


def leave(o):
    o._owner = 0
    lk = o._lk
    if lk is not None:
        lk.release()


def close(o, f):
    # o.close(): f() closes o's file under o's lock, once; when it returns
    # true (a buffer has nothing to close), calls on o raise ValueError.
    try:
        enter(o)
    except ValueError:  # closed already
        return
    shut = 0
    try:
        shut = f()
    finally:
        o._owner = _CLOSED if shut else 0
        if o._lk is not None:
            o._lk.release()
