# Text classification with a linear head trained on the host (docs/FORMAT.md,
# "The m2v classifier file"): python -m host_tools classifier MODEL TRAIN -o CLF.
#
#   clf = m2v.Classifier("intents.m2vc")     # file: streamed; /rom/...: read in place
#   clf.predict("lights off please")         # ("lights_off", 187345), or (None, score)
#   clf.scores("lights off please")          # [(label, score), ...] in class order
#   clf.logit(score)                         # ~ the float logit, score / 2**score_shift
#
# A score is the integer logit of a class: bias + floor(dot(q, w) * mult / 2**15)
# over the class's int8 weights w, in units of 2**-score_shift; the host makes
# the logits sum to about zero over the classes, so a class's score says how
# much it stands out from the average class. predict() rejects (label None)
# when the best score is below the file's threshold. Scores are identical to
# host_tools.classifier.Classifier.
# Twin by design: the chunked read-and-scan loop of _scores_into is the shape of
# index.py's _scan (each keeps its own rows' layout and results).
from array import array

from micropython import const

from . import _rows
from .model import _locked

_MAGIC = b"M2VC"
_VERSION = const(1)
_HDR = "<4sHHIIHBBIIiIIIIIBBHII"
_HDR_SIZE = const(64)
_FLAG_REJECT = const(1)
_SMALL = const(0x40000000)  # 2**30: every partial sum stays below it
_BIAS_MAX = const(0x10000000)  # |bias| <= 2**28 (FORMAT.md, classifier §4)
_SLACK = const(0x20000)  # 2**17 >= the scan's rounding terms (FORMAT.md, classifier §4)


class Classifier(_rows.RowFile):
    WHAT = "classifier"

    def __init__(self, path, model=None, mode=None, check_crc=True, buf_bytes=1024):
        # path: a classifier file (or a buffer holding one); mode "buf" reads it
        # in place (ROMFS memoryview) or into RAM, "file" streams the weights
        # through a buf_bytes buffer; None picks "buf" for /rom paths. model
        # embeds text inputs (default: m2v's model); it must be the model the
        # classifier was trained with.
        super().__init__(path, model, mode, check_crc, buf_bytes)

    def _open(self, check_crc, buf_bytes):
        h = self._header(_HDR, _MAGIC, _VERSION)
        (_, _, hs, self.file_size, crc, d, self.out_shift, self.score_shift, n, self.model_crc, thr,
         self._w_off, b_off, self._lo_off, self._lb_off, self._lb_size, flags, r0, rs, r1, r2) = h  # fmt: skip
        if hs != _HDR_SIZE or flags & ~_FLAG_REJECT or r0 or r1 or r2:
            raise self._bad("bad header size, flags or reserved fields")
        self._sized()
        if rs != d + 2 or not 1 <= d <= 4096 or not 2 <= n <= 65535 or self.score_shift > 30 or self.out_shift > 15:
            raise self._bad("inconsistent header fields")
        spans = ((self._w_off, n * rs), (b_off, 4 * n), (self._lo_off, 4 * (n + 1)), (self._lb_off, self._lb_size))
        self._sections(spans, check_crc, crc)
        self.dims = d
        self.n_classes = n
        self.threshold = thr if flags & _FLAG_REJECT else None
        self.bias = array("i", bytes(self._read(b_off, 4 * n)))
        bm = 0
        for b in self.bias:
            if b < -_BIAS_MAX or b > _BIAS_MAX:
                raise self._bad("bias out of range")
            if b < 0:
                b = -b
            if b > bm:
                bm = b
        # sum |q[d]| must stay below this (FORMAT.md, classifier §4)
        self.l1_max = (_SMALL - _SLACK - bm) // 127
        self._q = _rows.new_q(d)
        per = n
        if self._f is not None:
            per = buf_bytes // rs
            if per < 1:
                per = 1
            if per > n:
                per = n
            self._buf = bytearray(per * rs)
        self._per = per
        self._cs = array("i", bytes(4 * per))
        self._ci = array("i", bytes(4 * per))
        self._out = array("i", bytes(4 * n))

    def __len__(self):
        return self.n_classes

    @_locked
    def scores_into(self, query, out):
        # Write the integer score of every class into out (array('i') of
        # n_classes) for a text or an int16 vector; return out.
        return self._scores_into(query, out)

    def _scores_into(self, query, out):
        if len(out) != self.n_classes:
            raise ValueError("out must have %d elements" % self.n_classes)
        _rows.query_into(self._q, query, self.model, self.model_crc, self.l1_max, "classifier")
        d = self.dims
        rs = d + 2
        n = self.n_classes
        q, cs, bias, per = self._q, self._cs, self.bias, self._per
        scan = _rows.scan()
        f = self._f
        if f is not None:
            buf = self._buf
            f.seek(self._w_off)
        else:
            buf = self._mv
        c0 = 0
        while c0 < n:
            cnt = n - c0
            if cnt > per:
                cnt = per
            if f is not None:
                want = cnt * rs
                got = f.readinto(buf) if cnt == per else f.readinto(memoryview(buf)[:want])
                if got != want:
                    raise self._bad("short read")
                scan(buf, 0, cnt, d, q, 0, 0, 0, c0, cs, self._ci)
            else:
                scan(buf, self._w_off + c0 * rs, cnt, d, q, 0, 0, 0, c0, cs, self._ci)
            for k in range(cnt):
                out[c0 + k] = cs[k] + bias[c0 + k]
            c0 += cnt
        return out

    @_locked
    def predict(self, query):
        # (label, score) of the best class (ties: the lower class number), or
        # (None, score) when score is below the threshold.
        s = self._scores_into(query, self._out)
        best = 0
        for c in range(1, self.n_classes):
            if s[c] > s[best]:
                best = c
        top = s[best]
        if self.threshold is not None and top < self.threshold:
            return None, top
        return self._label(best), top

    @_locked
    def scores(self, query):
        # [(label, score), ...] for every class, in class order (the file's).
        s = self._scores_into(query, self._out)
        return [(self._label(c), s[c]) for c in range(self.n_classes)]

    def _label(self, c):
        if not 0 <= c < self.n_classes:
            raise IndexError("class out of range")
        return self._text(c)

    def logit(self, score):
        # The float logit a score stands for.
        return score * 2.0 ** -self.score_shift
