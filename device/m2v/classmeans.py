# A classifier that learns on the board: class means of example vectors in a
# growable index file (docs/LEARNING.md; the file is an index version 2,
# docs/FORMAT.md index §6, with the threshold set).
#
#   clf = m2v.ClassMeans("intents.m2vi")         # create it first: classmeans.create(path)
#   clf.learn("lights off please", "lights_off")  # one example: appended, power-loss safe
#   clf.predict("switch off the lamp")           # ("lights_off", score), or (None, score)
#   clf.scores("switch off the lamp")            # [(label, score), ...] in class order
#
# The score of a class is the sum of the integer index scores of its
# examples (index §4: the query's dot product with the sum S of the class's
# dequantised example vectors), times 2**14, floor-divided by the integer
# norm of S: the cosine of the query with the class's mean direction in
# units of 2**-(2*out_shift - score_shift) (FORMAT.md, index §7). Classes are
# in the order of their first example. predict() rejects (label None) when
# the best class score is below the file's threshold. Identical to
# host_tools.classmeans.ClassMeans.
from array import array

from micropython import const

from . import index as _index
from .model import _locked

_MULT_BITS = const(15)
_DEAD = const(0xFFFF)  # the class of a removed entry


def isqrt(n):
    # floor(sqrt(n)) of an int >= 0 (math.isqrt's value; Newton from above)
    if n <= 0:
        return 0
    x = n
    y = (x + 1) // 2
    while y < x:
        x = y
        y = (x + n // x) // 2
    return x


def threshold_for(min_cos, out_shift, score_shift):
    # The integer threshold for a cosine (to 1/1000): exact integers, the same
    # on a port with single-precision floats as on the host.
    return (int(round(min_cos * 1000)) << (2 * out_shift - score_shift)) // 1000


def create(path, model=None, min_cos=0.5, center=None, label_max=32):
    # Write an empty class-means file at path (replacing it) that rejects a
    # text whose best class score stands for a cosine below min_cos; return path.
    if model is None:
        from . import _model

        model = _model()
    cm = 0
    for v in center or ():
        cm = max(cm, -v if v < 0 else v)
    thr = threshold_for(min_cos, model.out_shift, _index.grow_shift(cm))
    return _index.create(path, model, center, label_max, thr)


class ClassMeans(_index.Index):
    def __init__(self, path, model=None, mode=None, check_crc=True, buf_bytes=4096):
        super().__init__(path, model, mode, check_crc, buf_bytes)
        try:
            self._classes()
        except Exception:
            self.close()
            raise

    def _classes(self):
        # the class of every entry (2 bytes each: a few-shot classifier holds
        # tens to hundreds of examples; _DEAD for a removed one) and the class
        # labels, first seen first, with the norm of each
        self.classes = []
        self._cls = array("H")
        self._norms = []  # isqrt(|S_c|^2) per class
        for i in range(self.count):
            if self._is_dead(i):
                self._cls.append(_DEAD)
            else:
                self._note(self._label(i))
        for c in range(len(self.classes)):
            self._norms[c] = self._norm(c)

    @_locked
    def forget(self, label):
        # Remove the class label and its examples (Index.remove: a removal
        # slot, power-loss safe); return how many examples it had.
        n = self._remove(label)
        if n:
            self._classes()
        return n

    # the index's add and remove keep the classes up to date here
    def add(self, item, label):
        return self.learn(item, label)

    def remove(self, label):
        return self.forget(label)

    def _note(self, label):
        if label in self.classes:
            c = self.classes.index(label)
        elif len(self.classes) < _DEAD:
            c = len(self.classes)
            self.classes.append(label)
            self._norms.append(0)
        else:
            raise ValueError("at most 65534 classes")
        self._cls.append(c)

    @_locked
    def learn(self, item, label):
        # Add an example (a text or an int16 vector) of class label; return
        # its entry number. Index.add: appended and flushed, power-loss safe.
        n = self._add(item, label)
        self._note(label)
        c = self._cls[n]
        self._norms[c] = self._norm(c)
        return n

    def _norm(self, c):
        # isqrt(|S|^2), S = the sum over class c's entries of the dequantised
        # vector center[d] + ((m * v[d]) >> (15 - t)) (small ints: |m * v| < 2**22)
        d, rs, base, S = self.dims, self.dims + 2, self._base_n, self._slot
        acc = array("i", bytes(4 * d))
        rec = bytearray(rs) if self._f is not None else None
        sh = _MULT_BITS - self.score_shift
        for i in range(self.count):
            if self._cls[i] != c:
                continue
            o = self._e_off + i * rs if i < base else self._log_off + (i - base) * S
            if rec is None:
                b = self._mv
            else:
                self._f.seek(o)
                if self._f.readinto(rec) != rs:
                    raise self._bad("short read")
                b = rec
                o = 0
            m = b[o + d] | (b[o + d + 1] << 8)
            for j in range(d):
                acc[j] += ((((b[o + j] ^ 0x80) - 0x80) * m) >> sh) + self.center[j]
        n2 = 0
        for v in acc:
            n2 += v * v
        return isqrt(n2)

    def _sum(self, nc):
        cs, ci, cls, sums = self._cs, self._ci, self._cls, self._sums
        for k in range(nc):
            c = cls[ci[k]]
            if c != _DEAD:
                sums[c] += cs[k]

    @_locked
    def scores_list(self, query):
        # The integer score of every class, in class order.
        return self._scores_list(query)

    def _scores_list(self, query):
        if not self.classes:
            raise ValueError("no examples learned yet")
        bias = self._query(query)
        nc = len(self.classes)
        self._sums = sums = [0] * nc
        self._full = self._thr = 0
        try:
            self._stream(bias, self._sum)
        finally:
            self._sums = None
        norms = self._norms
        for c in range(nc):
            sums[c] = (sums[c] << 14) // norms[c] if norms[c] else 0
        return sums

    @_locked
    def scores(self, query):
        # [(label, score), ...] for every class, in class order.
        s = self._scores_list(query)
        return [(self.classes[c], s[c]) for c in range(len(s))]

    @_locked
    def predict(self, query):
        # (label, score) of the best class (ties: the lower class number), or
        # (None, score) when the score is below the threshold.
        s = self._scores_list(query)
        best = 0
        for c in range(1, len(s)):
            if s[c] > s[best]:
                best = c
        if self.threshold is not None and s[best] < self.threshold:
            return None, s[best]
        return self.classes[best], s[best]
