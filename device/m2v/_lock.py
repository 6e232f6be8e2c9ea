# The per-object lock of a Model, an Index and a Classifier (docs/THREADS.md).
# Their state (the tokenizer's c and OUT, the accumulator, the page cache,
# the file position, the query and score buffers) is per object and a call
# rewrites it, so one call at a time may run on an object. Each public entry
# point holds the object's lock for the whole call: enter(o) ... finally
# leave(o); private methods (_name) run under it and never take it again.
# Lock order: an Index or a Classifier, then its model (search and predict
# embed the query); a model calls out to nothing, so no cycle can form.
#
# With _thread (unix, rp2, esp32), a call on an object another thread is in
# waits for it; the same thread entering an object again before its call
# returned (a micropython.schedule or interrupt callback that runs between
# two bytecodes of the call) raises RuntimeError, as waiting would hang.
# Without _thread, only such a re-entry can overlap a call: a flag catches it.
# close() waits for the call in progress; a call after it raises ValueError
# (o._closed). The cost is per call, never per token.
try:
    from _thread import allocate_lock, get_ident
except ImportError:  # a port without threads
    allocate_lock = None


def new():
    # An object's lock: None where the port has no _thread.
    return allocate_lock() if allocate_lock else None


def _busy():
    return RuntimeError("m2v object re-entered by a callback while in use in this thread")


def enter(o):
    # Take o's lock (o._lk, o._owner, o._closed); return with it held, or
    # raise RuntimeError (a re-entry) or ValueError (o is closed).
    lk = o._lk
    if lk is None:
        if o._owner:
            raise _busy()
        o._owner = 1
    else:
        if not lk.acquire(0):
            if o._owner == get_ident():
                raise _busy()
            lk.acquire()
        o._owner = get_ident()
    if o._closed:
        leave(o)
        raise ValueError("m2v object is closed")


def close(o, f):
    # o.close(): f() closes o's file under o's lock, once; after it (when it
    # returns true: a buffer has nothing to close) calls on o raise ValueError.
    try:
        enter(o)
    except ValueError:  # closed already
        return
    try:
        if f():
            o._closed = 1
    finally:
        leave(o)


def leave(o):
    o._owner = 0
    lk = o._lk
    if lk is not None:
        lk.release()
