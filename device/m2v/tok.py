# Tokenizer: BERT normalisation from the model's tables, BERT pre-tokenisation,
# WordPiece greedy longest match on the vocabulary trie (docs/FORMAT.md §3-5).
# The text is read in place through memoryview(str): no copy of the text, no
# list of words; one word (at most max_word_chars code points) is buffered.
from array import array
from micropython import const

_SB, _LB, _VB, _TB = const(0xAC00), const(0x1100), const(0x1161), const(0x11A7)
_NC, _TC = const(588), const(28)

# popcount of a byte, for the rank of HASKIDS bits
_POP = bytes(bin(i).count("1") for i in range(256))


class Tokenizer:
    def __init__(self, m):
        self.m = m
        self.word = bytearray(4 * m.max_word_chars + 8)
        self.pieces = array("i", [0] * (m.max_word_chars + 1))
        self.run_lo = 0
        self.run_hi = 0
        self.run_i = 0

    # ---- trie (docs/FORMAT.md §5)
    def _sample(self, sec, k):
        if self.m.sample_bytes == 2:
            i = k << 1
            return sec[i] | (sec[i + 1] << 8)
        i = k << 2
        return sec[i] | (sec[i + 1] << 8) | (sec[i + 2] << 16) | (sec[i + 3] << 24)

    def child(self, node, sym):
        m = self.m
        hk = m.haskids
        if not (hk[node >> 3] >> (node & 7)) & 1:
            return -1
        # rank of HASKIDS before node: the number of the group holding its children
        hs = m.h_shift
        g = self._sample(m.hrank, node >> hs)
        i = (node >> hs) << (hs - 3)
        end = node >> 3
        pop = _POP
        while i < end:
            g += pop[hk[i]]
            i += 1
        g += pop[hk[end] & ((1 << (node & 7)) - 1)]
        # start of group g: sampled, then skip the remaining groups
        gs = m.g_shift
        j = self._sample(m.gstart, g >> gs)
        k = g & ((1 << gs) - 1)
        nodes = m.nodes
        while k:
            if nodes[j] & 0x80:
                k -= 1
            j += 1
        while True:
            nb = nodes[j]
            s = nb & 63
            if s == sym:
                return j
            if s > sym or nb & 0x80:
                return -1
            j += 1

    def rank_t(self, node):
        m = self.m
        ts = m.t_shift
        r = self._sample(m.trank, node >> ts)
        nodes = m.nodes
        j = (node >> ts) << ts
        while j < node:
            r += (nodes[j] >> 6) & 1
            j += 1
        return r

    def field(self, pos, width):
        rec = self.m.records
        b = pos >> 3
        n = len(rec)
        v = rec[b]
        if b + 1 < n:
            v |= rec[b + 1] << 8
            if b + 2 < n:
                v |= rec[b + 2] << 16
        return (v >> (pos & 7)) & ((1 << width) - 1)

    def wordpiece(self, w, n):
        # Greedy longest match over w[0:n]; fills self.pieces with record
        # numbers and returns their count, or -1 when the word is unknown.
        m = self.m
        symmap = m.symmap
        nodes = m.nodes
        esc = m.esc_base
        pieces = self.pieces
        child = self.child
        np_ = 0
        pos = 0
        while pos < n:
            node = 0 if pos == 0 else 1
            best = -1
            best_end = 0
            i = pos
            while i < n:
                b = w[i]
                s = symmap[b]
                if s == 255:
                    node = child(node, esc + (b >> 6))
                    if node < 0:
                        break
                    s = b & 63
                node = child(node, s)
                if node < 0:
                    break
                i += 1
                if nodes[node] & 0x40:
                    best = node
                    best_end = i
            if best < 0:
                return -1
            pieces[np_] = self.rank_t(best)
            np_ += 1
            pos = best_end
        return np_

    # ---- normaliser (docs/FORMAT.md §3)
    def _find_run(self, cp):
        if self.run_lo <= cp < self.run_hi:
            return self.run_i
        runs = self.m.runs
        lo = 0
        hi = len(runs) // 6 - 1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            o = mid * 6
            if runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16) <= cp:
                lo = mid
            else:
                hi = mid - 1
        o = lo * 6
        self.run_lo = runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16)
        o += 6
        if o < len(runs):
            self.run_hi = runs[o] | (runs[o + 1] << 8) | (runs[o + 2] << 16)
        else:
            self.run_hi = 0x110000
        self.run_i = lo
        return lo

    # ---- words
    def _put(self, cp):
        # Append one code point to the current word as UTF-8.
        self.wc += 1
        if self.wc > self.m.max_word_chars:
            return  # the word will be [UNK]; its bytes are not needed
        w = self.word
        n = self.wn
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
        self.wn = n

    def _out(self, cp, iso):
        if iso:
            self.flush()
            self._put(cp)
            self.flush()
        else:
            self._put(cp)

    def flush(self):
        # End the current word: WordPiece it and emit its tokens.
        if self.wc == 0 or self.done:
            self.wn = self.wc = 0
            return
        m = self.m
        n = -1 if self.wc > m.max_word_chars else self.wordpiece(self.word, self.wn)
        self.wn = self.wc = 0
        if n < 0:
            self._emit_unk()
            return
        rb, ib, mb, wb = m.rec_bits, m.id_bits, m.map_bits, m.weight_bits
        field = self.field
        sink = self.sink
        for k in range(n):
            if self.done:
                return
            pos = self.pieces[k] * rb
            sink.token(field(pos, ib), field(pos + ib, mb), field(pos + ib + mb, wb))
            self._count()

    def _emit_unk(self):
        self._count()

    def _count(self):
        self.count += 1
        if self.count >= self.m.max_length:
            self.done = True

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
            self._out(cp + arg if (cp - self.run_lo) & 1 == 0 else cp, iso)
        elif kind == 4:  # STR: n UTF-8 bytes from the pool
            n = kb >> 4
            pool = m.pool
            p = arg + (cp - self.run_lo) * n
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
        self.sink = sink
        self.count = 0
        self.done = False
        self.wn = self.wc = 0
        mv = memoryview(text)
        nbytes = len(mv)
        limit = m.pretrunc_chars
        ascii_t = m.ascii
        first = m.added_first
        i = 0
        chars = 0
        while i < nbytes and chars < limit and not self.done:
            b = mv[i]
            if first[b]:
                hit = self._added_at(mv, i, nbytes, limit - chars)
                if hit:
                    self.flush()
                    if self.done:
                        break
                    i += hit[0]
                    chars += hit[1]
                    if hit[2] != m.unk_id:
                        sink.token(hit[2], hit[3], hit[4])
                    self._count()
                    continue
            if b < 0x80:
                i += 1
                chars += 1
                v = ascii_t[b]
                if v >= 2:
                    if v & 0x80:
                        self._out(v & 0x7F, True)
                    else:
                        self._put(v)
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
            chars += 1
            self._norm(cp)
        self.flush()
        self.sink = None
