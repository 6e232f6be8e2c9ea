# Tokenizer: BERT normalisation from the model's tables, BERT pre-tokenisation,
# WordPiece greedy longest match on the vocabulary trie (docs/FORMAT.md §3-5).
# The text is read in place through memoryview(str): no copy of the text, no
# list of words; one word (at most max_word_chars code points) is buffered.
# The hot path (ASCII scan, trie walk, records) is in viper: _wpv.py for
# buffer/ROMFS models, _wpf.py for file-mode models (through the page cache);
# its bit-identical pure-Python twin _wp.py is imported only by use("py") or
# on a port without viper. This file drives it and handles the other code
# points and added tokens. Indices into T and c: see _wp.py.
from array import array
from micropython import const

_T_WORD = const(9)
_C_HS = const(0)
_C_GS = const(1)
_C_TS = const(2)
_C_SB = const(3)
_C_ESC = const(4)
_C_RB = const(5)
_C_MWC = const(6)
_C_MAXLEN = const(7)
_C_LIMIT = const(8)
_C_ROOM = const(9)
_C_NREC = const(10)
_C_NRUNS = const(11)
_C_RLO = const(12)
_C_RHI = const(13)
_C_RI = const(14)
_C_WN = const(16)
_C_WC = const(17)
_C_COUNT = const(18)
_C_DONE = const(19)
_C_CHARS = const(20)
_C_NOUT = const(21)
_C_I = const(22)
_C_END = const(24)  # end of the per-text state
_C_OFF = const(24)  # file mode: offsets of HASKIDS, HRANK, GSTART, NODES, TRANK, RECORDS, NORM_RUNS; then len(NODES), len(GSTART)
_C_SM = const(33)  # file mode: the page cache's slot mask
_C_LEN = const(34)

_SB = const(0xAC00)
_LB = const(0x1100)
_VB = const(0x1161)
_TB = const(0x11A7)
_NC = const(588)
_TC = const(28)
_BATCH = const(64)  # tokens queued before they are delivered, besides one word's

_impl = "viper"
_v = None  # the _wpv module once imported; False: no viper on this port
_vf = None  # the same for _wpf


def _viper(file=False):
    # the viper module for buffer (_wpv) or file-mode (_wpf) models, or False
    global _v, _vf
    if file:
        if _vf is None:
            try:
                from . import _wpf as v
            except Exception:  # a port or build without the viper emitter
                v = False
            _vf = v
        return _vf
    if _v is None:
        try:
            from . import _wpv as v
        except Exception:
            v = False
        _v = v
    return _v


def _py():
    from . import _wp

    return _wp


def use(impl):
    # Select the tokenizer hot path: "viper" (_wpv.py for buffer/ROMFS
    # models, _wpf.py for file-mode models) or "py" (_wp.py). Bit-identical;
    # tests run both.
    global _impl
    if impl not in ("viper", "py"):
        raise ValueError("impl must be 'viper' or 'py'")
    if impl == "viper" and not _viper():
        raise ValueError("viper is not available on this port")
    _impl = impl


class Tokenizer:
    def __init__(self, m):
        self.m = m
        mwc = m.max_word_chars
        # OUT holds one word's pieces (<= max_word_chars) on top of a batch
        self.out = array("i", bytes(4 * (mwc + _BATCH + 2)))
        t = m._s  # the sections by id (docs/FORMAT.md): 5 SYMMAP, 6 NODES, 7 HASKIDS, 8-10 samples
        self.T = [m.ascii, t[5], t[6], t[7], t[8], t[9], t[10], m.records,
                  m.added_first, bytearray(4 * mwc + 8), self.out, m.runs]
        c = array("i", bytes(4 * _C_LEN))
        c[_C_HS], c[_C_GS], c[_C_TS], c[_C_SB] = m.h_shift, m.g_shift, m.t_shift, m.sample_bytes
        c[_C_ESC], c[_C_RB], c[_C_MWC] = m.esc_base, m.rec_bits, mwc
        c[_C_MAXLEN], c[_C_LIMIT], c[_C_ROOM] = m.max_length, m.pretrunc_chars, _BATCH - 1
        c[_C_NREC] = len(m.records)
        c[_C_NRUNS] = len(m.runs) // 6
        self.c = c
        # _wpv needs every tokenizer table as a buffer: true for buffer/ROMFS
        # models and for file-mode models with their tables in RAM; file-mode
        # models give _wpf the page cache and the sections' offsets, which
        # it also uses for the records (streamed in file mode whatever ram is)
        f = m._f
        self.bufs = not f or m.ram_tables > 0
        if f:
            self.T += [f[4], f[2], f[1], f[0], f[5:]]
            c[_C_SM] = len(f[1]) - 1
            k = _C_OFF
            for x in (t[7], t[8], t[9], t[6], t[10], m.records, m.runs):
                c[k] = getattr(x, "off", -1)  # -1: in RAM, read by _wpv, not _wpf
                k += 1
            c[k] = len(t[6])
            c[k + 1] = len(t[9])
        self.sink = None
        self._v = None

    # ---- normaliser (docs/FORMAT.md §3): see _wp.find_run_py
    def _find_run(self, cp):
        c = self.c
        if c[_C_RLO] <= cp < c[_C_RHI]:
            return c[_C_RI]
        v = self._v
        return v.find_run(self.T, c, cp) if v else _py().find_run_py(self.T, c, cp)

    # ---- words
    def _put(self, cp):
        # Append one code point to the current word as UTF-8.
        c = self.c
        wc = c[_C_WC] + 1
        c[_C_WC] = wc
        if wc > self.m.max_word_chars:
            return  # the word will be [UNK]; its bytes are not needed
        w = self.T[_T_WORD]
        n = c[_C_WN]
        if cp < 0x80:
            w[n] = cp
            n += 1
        elif cp < 0x800:
            w[n] = 0xC0 | (cp >> 6)
            w[n + 1] = 0x80 | (cp & 63)
            n += 2
        elif cp < 0x10000:
            w[n] = 0xE0 | (cp >> 12)
            w[n + 1] = 0x80 | ((cp >> 6) & 63)
            w[n + 2] = 0x80 | (cp & 63)
            n += 3
        else:
            w[n] = 0xF0 | (cp >> 18)
            w[n + 1] = 0x80 | ((cp >> 12) & 63)
            w[n + 2] = 0x80 | ((cp >> 6) & 63)
            w[n + 3] = 0x80 | (cp & 63)
            n += 4
        c[_C_WN] = n

    def _out(self, cp, iso):
        if iso:
            self.flush()
            self._put(cp)
            self.flush()
        else:
            self._put(cp)

    def flush(self):
        # End the current word; its tokens are queued in OUT.
        if self.c[_C_NOUT] > self.c[_C_ROOM]:
            self._deliver()
        self._flush(self.T, self.c)

    def _deliver(self):
        # Hand the queued records to the sink.
        c = self.c
        n = c[_C_NOUT]
        if not n:
            return
        c[_C_NOUT] = 0
        m = self.m
        sink = self.sink
        out = self.out
        rb, ib, mb, wb = m.rec_bits, m.id_bits, m.map_bits, m.weight_bits
        v = self._v
        if sink is self.pool_sink:
            # the model's own embed() sink: pool the whole batch in one call
            # (the same sums as Model.token, without a call per token)
            from . import pool

            f = m._f
            if not f:
                pool.acc_recs(m.acc, self.cen, m.records, out, n, m.wcodes, rb, ib, mb, wb, m.dims)
                m.ntok += n
                return
            if pool.acc_recs is pool.acc_recs_viper:
                _viper(True).acc_recs_f(self.T, c, m.acc, f[0], f[3], self.cen.off, n, m.wcodes, ib, mb, wb, m.dims, m.n_centroids)
                m.ntok += n
                return
        T = self.T
        if v:
            field = _viper(m._f is not None).field
            for k in range(n):
                pos = out[k] * rb
                sink.token(field(T, c, pos, ib), field(T, c, pos + ib, mb), field(T, c, pos + ib + mb, wb))
            return
        rec = m.records
        nrec = len(rec)
        field = _py().field_py
        for k in range(n):
            pos = out[k] * rb
            sink.token(field(rec, pos, ib, nrec), field(rec, pos + ib, mb, nrec), field(rec, pos + ib + mb, wb, nrec))

    def _norm(self, cp):
        # Normalise one code point >= 0x80 through NORM_RUNS.
        m = self.m
        runs = m.runs
        o = self._find_run(cp) * 6
        kb = runs[o + 3]
        arg = runs[o + 4] | (runs[o + 5] << 8)
        kind = kb & 7
        iso = kb & 8
        if kind == 2:  # DELTA
            if arg > 0x7FFF:
                arg -= 0x10000
            self._out(cp + arg, iso)
        elif kind == 0:  # DROP
            return
        elif kind == 1:  # SPACE
            self.flush()
        elif kind == 3:  # ALT
            if arg > 0x7FFF:
                arg -= 0x10000
            self._out(cp + arg if (cp - self.c[_C_RLO]) & 1 == 0 else cp, iso)
        elif kind == 4:  # STR: n UTF-8 bytes from the pool
            n = kb >> 4
            pool = m.pool
            p = arg + (cp - self.c[_C_RLO]) * n
            end = p + n
            while p < end:
                b = pool[p]
                if b < 0x80:
                    c = b
                    p += 1
                elif b < 0xE0:
                    c = ((b & 0x1F) << 6) | (pool[p + 1] & 63)
                    p += 2
                elif b < 0xF0:
                    c = ((b & 0x0F) << 12) | ((pool[p + 1] & 63) << 6) | (pool[p + 2] & 63)
                    p += 3
                else:
                    c = ((b & 7) << 18) | ((pool[p + 1] & 63) << 12) | ((pool[p + 2] & 63) << 6) | (pool[p + 3] & 63)
                    p += 4
                self._out(c, iso)
        elif kind == 5:  # HANGUL syllable -> conjoining jamo
            s = cp - _SB
            self._out(_LB + s // _NC, iso)
            self._out(_VB + (s % _NC) // _TC, iso)
            t = s % _TC
            if t:
                self._out(_TB + t, iso)
        else:
            raise ValueError("corrupt m2v model: unknown normaliser kind")

    def _added_at(self, mv, i, nbytes, chars_left):
        # Length in bytes of the added token starting at byte i, or 0.
        for tok, tchars, tid, row, code in self.m.added:
            n = len(tok)
            if n > nbytes - i or tchars > chars_left:
                continue
            k = 0
            while k < n and mv[i + k] == tok[k]:
                k += 1
            if k == n:
                return n, tchars, tid, row, code
        return None

    def run(self, text, sink):
        # Tokenise text, calling sink.token(id, row, code) for every kept token.
        if not isinstance(text, str):
            raise TypeError("text must be str, not " + type(text).__name__)
        m = self.m
        v = _impl == "viper" and _viper(not self.bufs)
        self._v = v
        if v:
            scan = v.scan
            self._flush = v.flush
        else:
            w = _py()
            scan = w.scan_py
            self._flush = w.flush_py
        self.sink = sink
        self.pool_sink = None
        # embed() through the model's sink: pool in batches (file mode: viper only)
        if sink is getattr(m, "_sink", None) and (self.bufs or v):
            self.pool_sink = sink
            self.cen = m._s[13]
        c = self.c
        for k in range(_C_WN, _C_END):
            c[k] = 0
        mv = memoryview(text)
        nbytes = len(mv)
        limit = m.pretrunc_chars
        ascii_t = m.ascii
        first = m.added_first
        T = self.T
        while True:
            scan(T, c, mv, nbytes)
            i = c[_C_I]
            if c[_C_NOUT] > c[_C_ROOM]:
                self._deliver()
                continue
            if i >= nbytes or c[_C_CHARS] >= limit or c[_C_DONE]:
                break
            b = mv[i]
            if first[b]:
                hit = self._added_at(mv, i, nbytes, limit - c[_C_CHARS])
                if hit:
                    self.flush()
                    if c[_C_DONE]:
                        break
                    self._deliver()
                    c[_C_I] = i + hit[0]
                    c[_C_CHARS] += hit[1]
                    if hit[2] != m.unk_id:
                        sink.token(hit[2], hit[3], hit[4])
                    c[_C_COUNT] += 1
                    if c[_C_COUNT] >= m.max_length:
                        c[_C_DONE] = 1
                    continue
            c[_C_CHARS] += 1
            if b < 0x80:
                # an ASCII byte that starts no added token here
                c[_C_I] = i + 1
                v = ascii_t[b]
                if v >= 2:
                    if v & 0x80:
                        self._out(v & 0x7F, True)
                    else:
                        self._put(b if v == 2 else v)
                elif v == 1:
                    self.flush()
                continue
            if b < 0xE0:
                cp = ((b & 0x1F) << 6) | (mv[i + 1] & 63)
                i += 2
            elif b < 0xF0:
                cp = ((b & 0x0F) << 12) | ((mv[i + 1] & 63) << 6) | (mv[i + 2] & 63)
                i += 3
            else:
                cp = ((b & 7) << 18) | ((mv[i + 1] & 63) << 12) | ((mv[i + 2] & 63) << 6) | (mv[i + 3] & 63)
                i += 4
            c[_C_I] = i
            self._norm(cp)
        self.flush()
        self._deliver()
        self.sink = self.pool_sink = None
