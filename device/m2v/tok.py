# Tokenizer: BERT normalisation from the model's tables, BERT pre-tokenisation,
# WordPiece greedy longest match on the vocabulary trie (docs/FORMAT.md §3-5).
# The text is read in place through memoryview(str): no copy of the text, no
# list of words; one word (at most max_word_chars code points) is buffered.
# The hot path (ASCII scan, trie walk, records) is in _wp.py, in viper for
# buffer/ROMFS models and in pure Python (bit-identical) otherwise; this file
# drives it and handles non-ASCII code points and added tokens.
from array import array
from micropython import const

from . import _wp
from ._wp import C_CHARS, C_COUNT, C_DONE, C_I, C_MAXLEN, C_NOUT, C_ROOM, C_WC, C_WN

_SB, _LB, _VB, _TB = const(0xAC00), const(0x1100), const(0x1161), const(0x11A7)
_NC, _TC = const(588), const(28)
_BATCH = const(64)  # tokens queued before they are delivered, besides one word's

_impl = "viper"
_v = None  # the _wpv module once imported; False: no viper on this port


def _viper():
    global _v
    if _v is None:
        try:
            from . import _wpv as v
        except Exception:  # a port or build without the viper emitter
            v = False
        _v = v
    return _v


def use(impl):
    # Select the tokenizer hot path: "viper" (buffer/ROMFS models; file-mode
    # models always use "py") or "py". Bit-identical; tests run both.
    global _impl
    if impl not in ("viper", "py"):
        raise ValueError("impl must be 'viper' or 'py'")
    if impl == "viper" and not _viper():
        raise ValueError("viper is not available on this port")
    _impl = impl


def _is_buf(x):
    try:
        memoryview(x)
        return True
    except TypeError:
        return False


class Tokenizer:
    def __init__(self, m):
        self.m = m
        mwc = m.max_word_chars
        # OUT holds one word's pieces (<= max_word_chars) on top of a batch
        self.out = array("i", bytes(4 * (mwc + _BATCH + 2)))
        self.T = [m.ascii, m.symmap, m.nodes, m.haskids, m.hrank, m.gstart, m.trank, m.records,
                  m.added_first, bytearray(4 * mwc + 8), self.out, m.runs]
        c = array("i", bytes(4 * _wp.C_LEN))
        c[_wp.C_HS], c[_wp.C_GS], c[_wp.C_TS], c[_wp.C_SB] = m.h_shift, m.g_shift, m.t_shift, m.sample_bytes
        c[_wp.C_ESC], c[_wp.C_RB], c[_wp.C_MWC] = m.esc_base, m.rec_bits, mwc
        c[C_MAXLEN], c[_wp.C_LIMIT], c[C_ROOM] = m.max_length, m.pretrunc_chars, _BATCH - 1
        c[_wp.C_NREC] = len(m.records)
        c[_wp.C_NRUNS] = len(m.runs) // 6
        self.c = c
        # viper needs every table as a buffer: true for buffer/ROMFS models
        self.bufs = all(_is_buf(x) for x in self.T)
        self.sink = None

    # ---- normaliser (docs/FORMAT.md §3): see _wp.find_run_py
    def _find_run(self, cp):
        return _wp.find_run_py(self.T, self.c, cp)

    # ---- words
    def _put(self, cp):
        # Append one code point to the current word as UTF-8.
        c = self.c
        wc = c[C_WC] + 1
        c[C_WC] = wc
        if wc > self.m.max_word_chars:
            return  # the word will be [UNK]; its bytes are not needed
        w = self.T[_wp.T_WORD]
        n = c[C_WN]
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
        c[C_WN] = n

    def _out(self, cp, iso):
        if iso:
            self.flush()
            self._put(cp)
            self.flush()
        else:
            self._put(cp)

    def flush(self):
        # End the current word; its tokens are queued in OUT.
        if self.c[C_NOUT] > self.c[C_ROOM]:
            self._deliver()
        self._flush(self.T, self.c)

    def _deliver(self):
        # Hand the queued records to the sink.
        c = self.c
        n = c[C_NOUT]
        if not n:
            return
        c[C_NOUT] = 0
        m = self.m
        sink = self.sink
        out = self.out
        rb, ib, mb, wb = m.rec_bits, m.id_bits, m.map_bits, m.weight_bits
        if sink is self.pool_sink:
            # the model's own embed() sink: pool the whole batch in one call
            # (the same sums as _Sink.token, without a call per token)
            from . import pool

            pool.acc_recs(m.acc, self.cen, m.records, out, n, m.wcodes, rb, ib, mb, wb, m.dims)
            m.ntok += n
            return
        rec = m.records
        nrec = len(rec)
        field = _wp.field_py
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
            self._out(cp + arg if (cp - self.c[_wp.C_RLO]) & 1 == 0 else cp, iso)
        elif kind == 4:  # STR: n UTF-8 bytes from the pool
            n = kb >> 4
            pool = m.pool
            p = arg + (cp - self.c[_wp.C_RLO]) * n
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
        v = _impl == "viper" and self.bufs and _viper()
        scan = v.scan_v if v else _wp.scan_py
        self._flush = v.flush_v if v else _wp.flush_py
        self.sink = sink
        self.pool_sink = None
        # embed() through the model's sink on a buffer model: pool in batches
        cen = getattr(m, "_s", None)
        cen = cen[13] if cen else None
        if sink is getattr(m, "_sink", None) and cen is not None and _is_buf(cen):
            self.pool_sink = sink
            self.cen = cen
        c = self.c
        for k in range(C_WN, _wp.C_LEN):
            c[k] = 0
        mv = memoryview(text)
        nbytes = len(mv)
        limit = m.pretrunc_chars
        ascii_t = m.ascii
        first = m.added_first
        T = self.T
        while True:
            scan(T, c, mv, nbytes)
            i = c[C_I]
            if c[C_NOUT] > c[C_ROOM]:
                self._deliver()
                continue
            if i >= nbytes or c[C_CHARS] >= limit or c[C_DONE]:
                break
            b = mv[i]
            if first[b]:
                hit = self._added_at(mv, i, nbytes, limit - c[C_CHARS])
                if hit:
                    self.flush()
                    if c[C_DONE]:
                        break
                    self._deliver()
                    c[C_I] = i + hit[0]
                    c[C_CHARS] += hit[1]
                    if hit[2] != m.unk_id:
                        sink.token(hit[2], hit[3], hit[4])
                    c[C_COUNT] += 1
                    if c[C_COUNT] >= m.max_length:
                        c[C_DONE] = 1
                    continue
            c[C_CHARS] += 1
            if b < 0x80:
                # an ASCII byte that starts no added token here
                c[C_I] = i + 1
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
            c[C_I] = i
            self._norm(cp)
        self.flush()
        self._deliver()
        self.sink = self.pool_sink = None
