# A loaded model binary (docs/FORMAT.md): tokenize and embed, in place from a
# buffer (ROMFS, frozen bytes) or from a file through a 512-byte page cache.
# Heap: `import m2v` costs a few KB; the first load imports the tokenizer and
# pooling modules, then _load.py (parsing and validation), which is dropped
# when the load ends, leaving one contiguous hole rather than scattered ones.
import gc
import sys
from array import array

from micropython import const

_PKG = __name__[:-6]  # "m2v"

# the page cache of file mode: pages of 2**PS bytes (the one definition; the C
# core's copy is tied to it by tests/test_device_layout.py), a power
# of two of slots (4 or 8, or what load's ram budget allows)
PS = const(6)
_PS = const(PS)
_PM = const((1 << PS) - 1)
# the slots of a set in a cache of WAYS_FROM to fewer than DIRECT slots (m2v/_load.py picks;
# the C core's copy of WAYS is tied to it too), else one: measured on cortex-m0 (make bench
# BOARD=cortex-m0, the page cache alone differing) and replayed (scripts/file_reads.py), four
# ways, first in first out, read fewer pages in a small cache (the 100 KiB heap's 64 slots:
# 2.59 file reads per token where one way read 3.27), one costs fewer instructions in a large
# one (the 192 KiB heap's 128 slots: 3,510 instructions per ASCII token where four took 3,595,
# a page in another way than its set's first costing more compares; 1.47 reads per token
# against 1.39) and in ram=0's 8 slots (12,131 against 12,380, 31.3 reads against 28.7)
WAYS = const(4)
_WAYS = const(WAYS)
WAYS_FROM = const(16)
DIRECT = const(128)


class PageCache:
    # File mode's page cache, shared by the sections (FileSection) and by
    # the C core; _load.py sets its fields: file; buf, the pages in one
    # bytearray; sm, the slots less one; wsh, the ways a set, log2 (0 or 2):
    # page p of the file is in a slot of set p & (sm >> wsh), the set's own
    # slot or, with four ways, that plus 1, 2 or 3 times the number of sets;
    # slot s holds buf[s << PS:(s + 1) << PS], its page number in tags[s] (an
    # array("i"), -1: empty), and with four ways the way a miss of the set takes
    # next in tags[sm + 1 + set] (first in, first out); row, one centroid row
    # (Model.token, acc_recs_f); page, a buffer of one page (a memoryview of
    # row's first bytes: no bytes of its own) that a miss read through the
    # file's methods fills, then copied into the slot (the C core reads a
    # board's file straight into the slot). A slot costs its page and its tag
    # (and a quarter of its set's word): no object of its own.
    pass


class FileSection:
    # s[i] is the byte at file offset off + i, through the page cache pc.
    def __init__(self, cache, off, size):
        self.cache = cache
        self.off = off
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if i < 0 or i >= self.size:
            raise IndexError
        i += self.off
        p = i >> _PS
        pc = self.cache
        t = pc.tags
        m = pc.sm >> pc.wsh  # the sets less one
        s = p & m
        if t[s] != p:
            n = m + 1  # the ways' stride
            e = s + (pc.sm + 1)
            s += n
            while s < e and t[s] != p:
                s += n
            if s >= e:
                # a miss: page p into the set's slot (four ways: the one its word names, then
                # the next), empty until the read is whole (a read that raises midway must not
                # leave the slot's old tag on new bytes)
                s = p & m
                if pc.wsh:
                    z = pc.sm + 1 + s
                    s += n * t[z]
                    t[z] = (t[z] + 1) & (_WAYS - 1)
                f = pc.file
                t[s] = -1
                f.seek(p << _PS)
                f.readinto(pc.page)
                pc.buf[s << _PS : (s + 1) << _PS] = pc.page  # a slice of a bytearray: nothing allocated
                t[s] = p
        return pc.buf[(s << _PS) | (i & _PM)]


# ---- the per-object lock of a Model, an Index and a Classifier (docs/THREADS.md)
# Their state (the tokenizer's c and OUT, the accumulator, the page cache,
# the file position, the query and score buffers) is per object and a call
# rewrites it: one call at a time may run on an object. o._guard = [lk,
# owner]: lk a _thread lock (None on a port without _thread), owner 0, the
# get_ident() of the thread in a call, or _CLOSED. Every public method
# holds it for its call (@_locked; Model.embed_into's C call takes it in C,
# m2v_native.c guard_take, and the other paths through _enter); private methods
# (_name) run under it. A call on an object another thread is in waits for
# it; the thread that is in the call entering again (a micropython.schedule
# or interrupt callback between two bytecodes of the call) raises
# RuntimeError, as waiting would hang (without _thread such a re-entry is
# the only overlap: owner 1 marks a call); a call on a closed object raises
# ValueError. Lock order: an Index or a Classifier, then its model (search
# and predict embed the query); a model calls out to nothing: no cycle.
# One attribute per object: a Model's instance dict is near full, and two
# more entries made every method lookup on a model 2,300 instructions
# slower on a Cortex-M0. Model loads (m2v.load, the default model) run one
# at a time under _LOADING: a load imports modules and drops the loader's.
try:
    from _thread import allocate_lock, get_ident
except ImportError:  # a port without threads
    allocate_lock = None

_CLOSED = const(-1)


def _new_guard():
    # [lk, owner], and get_ident where there is a lock: the C core's embed() takes the guard
    # itself (m2v_native.c guard_take) and sets the owner as _enter does
    return [allocate_lock(), 0, get_ident] if allocate_lock else [None, 0]


_LOADING = _new_guard()


def _take(g, held):
    # _enter's slow path. held 0: g's lock is held, by another thread (wait for
    # it, then go on if g is open) or by this one (a re-entry: raise); held 1:
    # g[1] is set on entry (this call holds the lock, or there is none): g is
    # closed, or (no _thread) a call on it is in progress: a re-entry.
    lk = g[0]
    if not held:
        if g[1] == get_ident():
            raise RuntimeError(_REENTRY)
        lk.acquire()
        if not g[1]:
            return
    if lk:
        lk.release()
    if g[1] == _CLOSED:
        raise ValueError("m2v object is closed")
    raise RuntimeError(_REENTRY)


_REENTRY = "m2v object re-entered by a callback while in use in this thread"


def _enter(g):
    # Take guard g (Model.embed_into writes it out).
    lk = g[0]
    if lk:
        if not lk.acquire(0):
            _take(g, 0)
        elif g[1]:
            _take(g, 1)
        g[1] = get_ident()
    elif g[1]:
        _take(g, 1)
    else:
        g[1] = 1


def _leave(g, closed=0):
    # Release g; closed: calls on the object raise ValueError from now on.
    g[1] = _CLOSED if closed else 0
    if g[0]:
        g[0].release()


def _closing(g):
    # close()'s entry: take g after a call in progress; False: closed already
    try:
        _enter(g)
    except ValueError:
        return False
    return True


def _locked(f):
    # f as a method that holds its object's lock for the call: the public
    # methods of an Index, a Classifier and ClassMeans (a search costs
    # millions of instructions, this call a few thousand; Model.embed_into,
    # far cheaper, has the C core take it). f calls only _methods: a public
    # method called under the lock would take it again and raise.
    def call(self, *a, **kw):
        g = self._guard
        _enter(g)
        try:
            return f(self, *a, **kw)
        finally:
            _leave(g)

    return call


def _array(t, n, v=0):
    # array(t) of n items, each v (None: any), in one allocation: array(t, bytes(k)) first makes
    # the k bytes, whose hole then splits the heap beside the array (a load makes several, and
    # the smallest heap a load and an embed work in is set by the largest free block left); a
    # range has a length, so the array is sized once
    a = array(t, range(n))
    if v is not None:
        for i in range(n):
            a[i] = v
    return a


def _drop(name):
    # m2v.<name> out of sys.modules and the package: a module that a load or m2v.use imports
    # for once (m2v/_load.py, _header.py, _setup.py), whose code then leaves the heap
    if sys.modules.pop(_PKG + "." + name, None):
        delattr(sys.modules[_PKG], name)


def _once(f, *a):
    # m2v/_setup.py's function f(*a), the module imported for the call and dropped after:
    # m2v.use's select, the choice a scan of rows makes before any load (m2v/_rows.py),
    # m2v.tok.native's lookup
    from . import _setup as s

    try:
        return getattr(s, f)(*a)
    finally:
        s = None
        _drop("_setup")


_CENTROIDS = const(13)  # the section id (docs/FORMAT.md §2), a copy of _load.py's

tok = None  # m2v.tok, imported by the first load (after the loader: in its hole)
_ZERO = b""  # 2 * dims zero bytes, the vectors' initial value (Model.embed): 512 B held for dims 256


def _entry(m, T, c):
    # Model m's embed_into(text, out) where the C core is not imported (its Entry's twin):
    # write the Q14 unit vector for text into out (array('h') of length dims). An attribute
    # of the model, so that a call finds it in the instance dict (a method is looked up
    # there first, a miss that scans a near-full table) and runs one small frame: T, c and m
    # closed over (three cells and two arguments: the closure's argument array stays on the
    # C stack). tok.fast, the C core's embed (m2v.use("native") after the load), runs the
    # whole embed in one call: it takes and releases the model's lock itself (T[GUARD],
    # released on any exception) and records model.impl, so that this frame holds no
    # exception handler and stays small enough for the C stack (a larger one is a heap block
    # per call). It returns 1 when out holds the vector; anything else goes on in _embed.
    def embed_into(text, out):
        f = tok.fast
        r = f(T, c, text, out) if f else 0
        if r == 1:
            return out
        return m._embed(text, out, r)

    return embed_into


class Model:
    def __init__(self, src=None, check_crc=True, mode=None, ram=None):
        # src: a path (mode "file" streams it, "buf" maps or reads it; None
        # picks "buf" for /rom/ paths), an open binary file, a buffer holding
        # the whole model, or None for the board's default model. ram (file
        # mode): heap bytes the model may spend on copies of the tokenizer's
        # tables; when they fit (self.ram_need), they are read into RAM; None:
        # what the heap can spare (m2v.load).
        from . import _load

        try:
            _load.init(self, src, check_crc, mode, ram)
        finally:
            # drop the loader (and m2v/_setup.py, which ram=None's share may have imported):
            # their code and messages leave the heap
            _load = None
            _drop("_load")
            _drop("_setup")
        # the tokenizer's code, after the loader: in its hole; then m2v/_setup.py (what runs
        # once: the choice of the core, the tokenizer's state), dropped when done
        gc.collect()
        global tok
        from . import tok as tok

        gc.collect()
        from . import _setup as s

        try:
            if tok.kind is None:
                s.select(None)  # the C core where it loads, else the twin (m2v.use)
            if tok.note:  # the C core did not load: said once, at the load after the selection, on
                # stderr (a board's console; the unix port's stdout stays the application's)
                print(tok.note, file=getattr(sys, "stderr", sys.stdout))
                tok.note = None
            # which implementation ran the last call, per stage (README "Which
            # implementation runs"): "tok" and "pool", "native" or "py";
            # "loop", what drove the last embed: "native" (one C call), "py"
            # (tok.run) or "native+py" (the C call, then tok.run from where it stopped:
            # a damaged model's unknown normaliser kind, where tok.run raises)
            self.impl = {"tok": tok.kind, "pool": tok.kind, "loop": None}
            self._guard = _new_guard()  # one call at a time (above); T[GUARD] holds it too
            self.tok = s.tokenizer(self)
        finally:
            s = None
            _drop("_setup")
        # embed_into: the C core's Entry where it is imported (m2v_native.c: no Python frame),
        # else a Python closure (_entry)
        T, c, E = self.tok.T, self.tok.c, tok.C and tok.C.Entry
        self.embed_into = E(T, c, self) if E else _entry(self, T, c)

    def token(self, tid, row, code):
        # embed()'s sink: acc += WCODES[code] * CENTROIDS[row]
        d = self.dims
        if row >= self.n_centroids:
            raise ValueError("corrupt m2v model: centroid row out of range")
        cen = self._s[_CENTROIDS]
        pc = self.cache
        if pc:  # file mode
            f = pc.file
            f.seek(cen.off + row * d)
            r = pc.row
            if f.readinto(r) != d:  # the file changed since the load (the C core's read_at)
                raise ValueError("corrupt m2v model: short read")
        else:
            r = cen[row * d : row * d + d]
        tok.pool.acc_row(self.acc, r, self.wcodes[code], d)

    def _run(self, text, sink, resume=False):
        try:
            self.tok.run(text, sink, resume)
        except (IndexError, UnicodeError):  # check_crc=False and a damaged model: a table read
            # out of its section, or bad UTF-8 in a NORM_POOL string
            raise ValueError("corrupt m2v model: table index out of range or bad UTF-8") from None

    # ---- API: each call holds the model's lock (_enter, above)
    @_locked
    def tokenize(self, text):
        # Token ids, model2vec semantics: truncated to max_length, [UNK] dropped.
        ids = []
        self._run(text, ids)  # a list as the sink: the tokenizer appends the ids
        return ids

    def _embed(self, text, out, r):
        # embed_into's other paths, under the model's lock. r 0: no C core, or the C call
        # did not start (text or out wrong, out not an array("h") among them: the checks
        # below raise); 3: it did not start as the lock was not free (another thread's
        # call: _enter waits; a re-entry or a closed model: _enter raises); 2: it stopped
        # where tok.run goes on (a damaged model's unknown normaliser kind), still holding
        # the lock, with acc, c and OUT its state.
        g = self._guard
        if r != 2:
            _enter(g)
        try:
            if r == 3:  # the lock is ours now: the C call again, without its own (stages 3)
                r = tok.fast(self.tok.T, self.tok.c, text, out, 3)
                if r == 1:
                    return out
            d = self.dims
            if len(out) != d:
                raise ValueError("out must have %d elements" % d)
            if not r and tok.fast and isinstance(text, str):
                # the C call refused out (not an array('h')): pooling would write int16s into it
                raise ValueError("out must be an array('h')")
            acc = self.acc
            p = tok.pool
            if not r:
                p.zero(acc, d)
            self._run(text, self, r == 2)  # 2: acc, c and OUT hold the C core's state
            p.normalize_into(acc, out, d, self.norm_bits, self.out_shift)
            imp = self.impl
            imp["pool"] = tok.kind
            imp["loop"] = "native+py" if r else "py"  # r is 2 here: the C call handed over to tok.run
            return out
        finally:
            _leave(g)

    def embed(self, text):
        # a new array('h') for the vector, copied from _ZERO: one allocation a call, where a
        # temporary bytes(2 * dims) made two (on a board each allocated byte costs tens of
        # instructions in collections: about 40,000 instructions a call on cortex-m0)
        global _ZERO
        z = _ZERO
        if len(z) != 2 * self.dims:
            z = _ZERO = bytes(2 * self.dims)
        return self.embed_into(text, array("h", z))

    def close(self):
        # Close the model's file (file mode), after a call in progress; calls
        # afterwards raise ValueError.
        g = self._guard
        if _closing(g):
            pc = self.cache
            if pc:
                pc.file.close()
                self.cache = None
            _leave(g, pc)
