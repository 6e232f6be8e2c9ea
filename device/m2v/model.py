# A loaded model binary (docs/FORMAT.md): tokenize and embed, in place from a
# buffer (ROMFS, frozen bytes) or from a file through a 512-byte page cache.
# Heap: `import m2v` costs a few KB; the first load imports the tokenizer and
# pooling modules, then _load.py (parsing and validation), which is dropped
# when the load ends, leaving one contiguous hole rather than scattered ones.
import gc
import sys
from array import array

from micropython import const

from ._lock import Guard, close, get_ident, refuse, wait

_PKG = __name__[:-6]  # "m2v"

# the page cache of file mode: pages of 2**PS bytes (the one definition;
# _tok_file.py's copy is tied to it by tests/test_device_layout.py), a power
# of two of slots (8, or what load's ram budget allows)
PS = const(6)
_PS = const(PS)
_PM = const((1 << PS) - 1)


class PageCache:
    # File mode's page cache, shared by the sections (FileSection) and by
    # _tok_file.py; _load.py sets its fields: file; buf, the pages in one
    # bytearray: page p of the file in slot p & sm, its number in tags[p & sm]
    # (an array("i")); slots[s], a memoryview of slot s, so that a miss reads
    # straight into it; row, one centroid row (Model.token, acc_recs_f).
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
        s = p & pc.sm
        if pc.tags[s] != p:
            # a miss: page p into slot s
            f = pc.file
            f.seek(p << _PS)
            f.readinto(pc.slots[s])
            pc.tags[s] = p
        return pc.buf[(s << _PS) | (i & _PM)]


_CENTROIDS = const(13)  # the section id (docs/FORMAT.md §2), a copy of _load.py's

tok = None  # m2v.tok, imported by the first load (after the loader: in its hole)


class Model:
    def __init__(self, src=None, check_crc=True, mode=None, ram=None):
        # src: a path (mode "file" streams it, "buf" maps or reads it; None
        # picks "buf" for /rom/ paths), an open binary file, a buffer holding
        # the whole model, or None for the board's default model. ram (file
        # mode): heap bytes the model may spend on copies of the tokenizer's
        # tables; when they fit (self.ram_need), they are read into RAM; None:
        # what the heap can spare (m2v.load).
        self._guard = Guard()  # one call at a time (m2v/_lock.py, docs/THREADS.md)
        from . import _load

        try:
            _load.init(self, src, check_crc, mode, ram)
        finally:
            # drop the loader: its code and messages leave the heap
            _load = None
            del sys.modules[_PKG + "._load"]
            delattr(sys.modules[_PKG], "_load")
        # the tokenizer and pooling code, after the loader: in its hole
        gc.collect()
        global tok
        from . import tok as tok

        if tok.pool is None:
            tok.use_pool(None)  # the fastest loops this port runs
        # which implementation ran the last call, per stage (README "Which
        # implementation runs"): "tok" and "pool", "native", "viper" or "py";
        # "loop", what drove the last embed: "native" (one C call), "py"
        # (tok.run) or "native+py" (the C call, then tok.run from where it stopped)
        self.impl = {"tok": None, "pool": None, "loop": None}
        self.tok = tok.Tokenizer(self)
        self._sink = self

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
            f.readinto(r)
        else:
            r = cen[row * d : row * d + d]
        tok.pool.acc_row(self.acc, r, self.wcodes[code], d)

    def _run(self, text, sink, resume=False):
        try:
            self.tok.run(text, sink, resume)
        except (IndexError, UnicodeError):  # check_crc=False and a damaged model: a table read
            # out of its section, or bad UTF-8 in a NORM_POOL string
            raise ValueError("corrupt m2v model: table index out of range or bad UTF-8") from None

    # ---- API: each call holds the model's lock (m2v/_lock.py)
    def tokenize(self, text):
        # Token ids, model2vec semantics: truncated to max_length, [UNK] dropped.
        ids = []
        g = self._guard  # the lock written out, as in embed_into
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
        try:
            self._run(text, ids)  # a list as the sink: the tokenizer appends the ids
        finally:
            g.owner = 0
            if lk is not None:
                lk.release()
        return ids

    def embed_into(self, text, out):
        # Write the Q14 unit vector for text into out (array('h') of length dims).
        # The model's lock: m2v/_lock.py's enter and leave, written out (calls
        # to them cost 2,800 instructions on a Cortex-M0, 2% of an embed)
        g = self._guard
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
        try:
            # A buffer model with the native core runs the whole embed in one C call
            # (tok.fast): this method's and tok.run()'s Python cost more than the C does
            # per text. It returns 1 (done), 0 (not started: the checks below raise) or
            # 2 (stopped where tok.run goes on: an added token, a STR or HANGUL code point).
            f = tok.fast
            r = 0
            t = self.tok
            if f and t.bufs:  # the tokenizer's tables are buffers (in file mode: in RAM)
                if f is True:
                    f = tok.get_fast()
                r = f(t.T, t.c, text, out)
                if r == 1:
                    imp = self.impl
                    imp["tok"] = imp["pool"] = imp["loop"] = "native"
                    return out
            d = self.dims
            if len(out) != d:
                raise ValueError("out must have %d elements" % d)
            acc = self.acc
            p = tok.pool
            if not r:
                p.zero(acc, d)
            self._run(text, self, r == 2)  # 2: acc, c and OUT hold the C core's state
            p.normalize_into(acc, out, d, self.norm_bits, self.out_shift)
            imp = self.impl
            imp["pool"] = p.IMPL
            imp["loop"] = "native+py" if r else "py"  # r is 2 here: the C call handed over to tok.run
            return out
        finally:
            g.owner = 0
            if lk is not None:
                lk.release()

    def embed(self, text):
        return self.embed_into(text, array("h", bytes(2 * self.dims)))

    def close(self):
        # Close the model's file (file mode); calls afterwards raise ValueError.
        close(self._guard, self._close)

    def _close(self):
        pc = self.cache
        if pc:
            pc.file.close()
            self.cache = None
            return True
