"""Classifier files (docs/FORMAT.md, "The m2v classifier file"): train on the host, classify like the board.

A classifier is a multinomial logistic regression over the model's Q14
output vectors, trained here with scikit-learn on the exact vectors the board
computes (``host_tools.reference``), quantised to int8 weights with one 15-bit
multiplier per class and an int32 bias. The board (``device/m2v/classifier.py``)
scores a text with integer arithmetic that this module repeats bit for bit in
numpy. ``python -m host_tools classifier`` is the command line.

    >>> from host_tools.classifier import Classifier
    >>> clf = Classifier("intents.m2vc", model="firmware_assets/model.m2v")
    >>> clf.predict("switch the lights off")     # ("lights_off", score), or (None, score) when rejected
    >>> clf.scores("switch the lights off")      # [(label, score), ...] in class order
"""

from __future__ import annotations

import json
import logging
import math
import struct
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host_tools import index as hindex
from host_tools import reference
from host_tools.atomic import write_atomic

logger = logging.getLogger(__name__)

MAGIC = b"M2VC"
VERSION = 1
HEADER_SIZE = 64
# magic, version, header_size, file_size, crc32, dims, out_shift, score_shift, n_classes, model_crc32,
# threshold, weights_off, bias_off, label_offs_off, labels_off, labels_size, flags, reserved u8,
# row_size, reserved u32, reserved u32
HEADER_FMT = "<4sHHIIHBBIIiIIIIIBBHII"
assert struct.calcsize(HEADER_FMT) == HEADER_SIZE
FLAG_REJECT = 1
MULT_BITS = 15
MULT_MAX = (1 << MULT_BITS) - 1
SMALL = 1 << 30  # every partial sum stays below this: a MicroPython small int, an int32 in the C core
BIAS_MAX = 1 << 28  # |bias| bound (FORMAT.md, classifier §4)
SLACK = 1 << 17  # bounds the scan's rounding terms: |floor(dot * m / 2**15)| <= |dot| + 2**16
MAX_SCORE_SHIFT = 30
MAX_CLASSES = 65535
MAX_LABEL_BYTES = 65535
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # inverse L2 strengths tried by cross-validation
DEFAULT_C = 10.0  # when there are too few texts per label to cross-validate
FOLDS = 5
REJECT_FRACTION = 0.10  # --reject: the share of in-domain texts (out of fold) the threshold rejects
SEED = 0


class ClassifierFormatError(ValueError):
    """Bad input for the classifier builder or a corrupt classifier file (a ValueError)."""


@dataclass(frozen=True)
class ClassifierHeader:
    """The fixed 64-byte header of a classifier file."""

    file_size: int
    crc32: int
    dims: int
    out_shift: int
    score_shift: int
    n_classes: int
    model_crc32: int
    threshold: int
    weights_off: int
    bias_off: int
    label_offs_off: int
    labels_off: int
    labels_size: int
    flags: int


def l1_limit(bias_max: int) -> int:
    """Largest ``sum(|q[d]|)`` for which every partial sum of the scoring stays below 2**30 (FORMAT.md §4)."""
    return (SMALL - SLACK - bias_max) // 127


# ------------------------------------------------------------------ quantisation
@dataclass(frozen=True)
class Head:
    """A linear head in float: ``logit[c] = weights[c] · (q / 2**out_shift) + bias[c]``."""

    labels: list[str]
    weights: np.ndarray  # (C, D) float64
    bias: np.ndarray  # (C,) float64


def centred(head: Head) -> Head:
    """Return the same softmax with the logits' mean over the classes removed (weights and biases sum to zero)."""
    return Head(head.labels, head.weights - head.weights.mean(axis=0), head.bias - head.bias.mean())


def quantize(head: Head, mean_x: np.ndarray, out_shift: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Quantise a head into ``(rows int8 (C, D), mult u16 (C,), bias i32 (C,), score_shift)`` (FORMAT.md §3).

    Each class's weights are scaled to ±127 and refitted (least squares) to one
    scale ``σ_c``; ``score_shift`` S is the largest value ≤ 30 with every
    ``m_c = round(σ_c · 2^(S + 1 + 14 − out_shift))`` ≤ 32767 and every
    ``|bias_c|`` ≤ 2^28. The bias absorbs the int8 error along ``mean_x``, the
    mean input (float units): ``bias_c = round(2^S · (b_c + (w_c − ŵ_c) · mean_x))``.
    """
    w = np.asarray(head.weights, dtype=np.float64)
    b = np.asarray(head.bias, dtype=np.float64)
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ClassifierFormatError("head weights or biases are not finite")
    peak = np.abs(w).max(axis=1)
    step = np.where(peak > 0, peak / 127.0, 1.0)
    v = np.clip(np.rint(w / step[:, None]), -127, 127)
    vv = (v * v).sum(axis=1)
    sigma = np.where(vv > 0, (w * v).sum(axis=1) / np.maximum(vv, 1.0), 0.0)  # > 0: v has the signs of w
    unit = 2.0 ** (MULT_BITS - out_shift)  # m / 2**15 * dot = sigma * dot / 2**out_shift * 2**S
    for s in range(MAX_SCORE_SHIFT, -1, -1):
        mult = np.rint(sigma * unit * 2.0**s)
        if mult.max(initial=0) > MULT_MAX:
            continue
        w_hat = v * (mult / (unit * 2.0**s))[:, None]
        bias = np.rint(2.0**s * (b + (w - w_hat) @ mean_x))
        if np.abs(bias).max(initial=0) <= BIAS_MAX:
            return v.astype(np.int8), mult.astype(np.uint16), bias.astype(np.int32), s
    raise ClassifierFormatError("head weights or biases too large to quantise (|bias| > 2**28 at score_shift 0)")


def _pad4(b: bytearray) -> None:
    b.extend(bytes(-len(b) % 4))


def assemble(
    head: Head,
    mean_x: np.ndarray,
    *,
    out_shift: int = 14,
    model_crc32: int = 0,
    threshold: float | None = None,
) -> bytes:
    """Build a classifier file from a float head; ``threshold`` (float logit) enables rejection."""
    c, d = head.weights.shape
    if not 2 <= c <= MAX_CLASSES or len(head.labels) != c or len(head.bias) != c:
        raise ClassifierFormatError(f"a classifier needs 2..{MAX_CLASSES} classes, one label and bias each")
    if not 1 <= d <= 4096:
        raise ClassifierFormatError("dims outside 1..4096")
    if len(set(head.labels)) != c:
        raise ClassifierFormatError("labels are not distinct")
    rows, mult, bias, s = quantize(head, mean_x, out_shift)
    # any Q14 unit vector (|q|_2 <= 16417, FORMAT.md §6) must pass the bound check of §4
    assert math.isqrt(d * 16417 * 16417) + 1 <= l1_limit(int(np.abs(bias.astype(np.int64)).max()))
    blobs = [lab.encode("utf-8") for lab in head.labels]
    for i, blob in enumerate(blobs):
        if len(blob) > MAX_LABEL_BYTES or b"\x00" in blob:
            raise ClassifierFormatError(f"label {i} is longer than {MAX_LABEL_BYTES} bytes or holds a NUL")
    offs = np.zeros(c + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(x) for x in blobs])
    flags, thr = 0, 0
    if threshold is not None:
        flags |= FLAG_REJECT
        thr = int(math.ceil(threshold * 2.0**s))  # reject score < thr  <=>  logit < threshold (to 2**-S)
        thr = max(-(1 << 31), min(thr, (1 << 31) - 1))

    body = bytearray(HEADER_SIZE)
    weights_off = len(body)
    rec = np.zeros((c, d + 2), dtype=np.uint8)
    rec[:, :d] = rows.view(np.uint8)
    rec[:, d:] = mult.astype("<u2").view(np.uint8).reshape(c, 2)
    body += rec.tobytes()
    _pad4(body)
    bias_off = len(body)
    body += bias.astype("<i4").tobytes()
    label_offs_off = len(body)
    body += offs.astype("<u4").tobytes()
    labels_off = len(body)
    body += b"".join(blobs)
    _pad4(body)
    header = struct.pack(
        HEADER_FMT, MAGIC, VERSION, HEADER_SIZE, len(body), 0, d, out_shift, s, c, model_crc32, thr,
        weights_off, bias_off, label_offs_off, labels_off, int(offs[-1]), flags, 0, d + 2, 0, 0,
    )  # fmt: skip
    body[:HEADER_SIZE] = header
    struct.pack_into("<I", body, 12, zlib.crc32(body[16:]))
    return bytes(body)


# ------------------------------------------------------------------ training
def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Head:
    """Multinomial logistic regression (L2, lbfgs) on float inputs; the centred head."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # one BLAS thread: a problem this small runs 50x slower with threads on a busy machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("error", category=UserWarning)  # a ConvergenceWarning is a UserWarning: fail loudly
        lr = LogisticRegression(C=c, max_iter=10_000, tol=1e-6).fit(x, y)
    w = lr.coef_.astype(np.float64)
    b = lr.intercept_.astype(np.float64)
    if len(lr.classes_) == 2:  # sklearn keeps one row for two classes: logit(1) - logit(0)
        w = np.stack([-w[0] / 2, w[0] / 2])
        b = np.array([-b[0] / 2, b[0] / 2])
    return centred(Head([str(k) for k in lr.classes_], w, b))


def _folds(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    from sklearn.model_selection import StratifiedKFold

    k = min(FOLDS, min(Counter(y.tolist()).values()))
    if k < 2:
        return None
    return list(StratifiedKFold(k, shuffle=True, random_state=SEED).split(np.zeros(len(y)), y))


def choose_c(x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Return the inverse regularisation strength of :data:`C_GRID` with the lowest cross-validated log-loss."""
    best, best_loss = DEFAULT_C, math.inf
    for c in C_GRID:
        loss = 0.0
        for tr, te in folds:
            h = _fit(x[tr], y[tr], c)
            z = x[te] @ h.weights.T + h.bias
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            col = {lab: i for i, lab in enumerate(h.labels)}
            loss -= sum(logp[i, col[lab]] for i, lab in enumerate(y[te]))
        logger.info("  C = %g: cross-validated log-loss %.4f per text", c, loss / len(y))
        if loss < best_loss:
            best, best_loss = c, loss
    return best


def out_of_fold_top(
    vecs: np.ndarray, y: np.ndarray, c: float, folds: list[tuple[np.ndarray, np.ndarray]], out_shift: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    """Top logit and correctness of every training text under the quantised model trained without its fold."""
    top = np.zeros(len(y))
    ok = np.zeros(len(y), dtype=bool)
    x = vecs / 2.0**out_shift
    for tr, te in folds:
        clf = Classifier(assemble(_fit(x[tr], y[tr], c), x[tr].mean(axis=0), out_shift=out_shift))
        s = clf.scores_batch(vecs[te])
        best = s.argmax(axis=1)
        top[te] = s.max(axis=1) * 2.0**-clf.header.score_shift
        ok[te] = np.array(clf.labels)[best] == y[te]
    return top, ok


def reject_threshold(top: np.ndarray, fraction: float) -> float:
    """Return the ``fraction`` quantile of in-domain top logits: about that share of in-domain texts is rejected."""
    return float(np.quantile(top, fraction, method="lower"))


def train(
    model: reference.Reference,
    items: Sequence[tuple[str, str]],
    *,
    c: float | None = None,
    reject: float | None = None,
) -> bytes:
    """Embed ``(label, text)`` items with the reference, train, quantise and assemble a classifier file.

    ``c`` None picks it by cross-validation; ``reject`` (a fraction in (0, 1)) sets the threshold to that
    quantile of the out-of-fold top logits of the training texts (FORMAT.md, classifier §5).
    """
    y = np.array([lab for lab, _ in items])
    counts = Counter(y.tolist())
    if len(counts) < 2:
        raise ClassifierFormatError("a classifier needs at least 2 labels")
    vecs = model.embed_batch([t for _, t in items]).astype(np.int64)
    zero = int((~vecs.any(axis=1)).sum())
    if zero:
        logger.warning("%d of %d texts embed to the zero vector (no known token)", zero, len(items))
    folds = _folds(y)
    if reject is not None:
        if not 0.0 < reject < 1.0:
            raise ClassifierFormatError("--reject takes a fraction between 0 and 1")
        if folds is None:
            raise ClassifierFormatError("--reject needs at least 2 texts per label (cross-validation)")
    x = vecs / 2.0**model.header.out_shift
    if c is None:
        if folds is None:
            logger.info("too few texts per label to cross-validate: C = %g", DEFAULT_C)
            c = DEFAULT_C
        else:
            c = choose_c(x, y, folds)
    logger.info("logistic regression: %d texts, %d labels, C = %g", len(y), len(counts), c)
    threshold = None
    if reject is not None and folds is not None:
        top, ok = out_of_fold_top(vecs, y, c, folds, model.header.out_shift)
        threshold = reject_threshold(top, reject)
        logger.info(
            "reject threshold: logit %.4f (%d-fold cross-validation: rejects %.1f %% of in-domain texts, "
            "out-of-fold accuracy %.1f %%, %.1f %% among the accepted)",
            threshold, len(folds), 100 * (top < threshold).mean(), 100 * ok.mean(),
            100 * ok[top >= threshold].mean(),
        )  # fmt: skip
    head = _fit(x, y, c)
    return assemble(
        head, x.mean(axis=0), out_shift=model.header.out_shift, model_crc32=model.header.crc32, threshold=threshold
    )


# ------------------------------------------------------------------ model2vec's own classifier
def read_model2vec_head(path: str | Path) -> Head:
    """Read the head of a model2vec ``StaticModelPipeline`` folder (``head.safetensors`` + ``config.json``).

    Only a single linear layer with softmax over normalised embeddings maps onto this format (a model2vec
    classifier trained with ``n_layers=0``); an MLP head, a multi-label (sigmoid) head or a model without
    ``normalize`` raises ClassifierFormatError saying so. No torch is needed: the head is safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(path / "head.safetensors"))
    except FileNotFoundError as e:
        raise ClassifierFormatError(f"{path}: not a model2vec classifier ({Path(e.filename).name} missing)") from None
    except (json.JSONDecodeError, SafetensorError, UnicodeDecodeError) as e:
        raise ClassifierFormatError(f"{path}: unreadable model2vec classifier ({e})") from None
    hc = config.get("head_config") or {}
    n_layers, act, classes = hc.get("n_layers"), hc.get("activation"), hc.get("classes")
    if act != "softmax" or not classes:
        raise ClassifierFormatError(f"{path}: head activation {act!r}: only single-label (softmax) classifiers")
    if n_layers != 1:
        raise ClassifierFormatError(
            f"{path}: the head has {n_layers} linear layers; this format holds one (train with n_layers=0)"
        )
    if not config.get("normalize", False):
        raise ClassifierFormatError(f"{path}: the model does not normalise its embeddings; the board's vectors are")
    try:
        w = tensors["head.0.weight"].astype(np.float64)
        b = tensors["head.0.bias"].astype(np.float64)
    except KeyError as e:
        raise ClassifierFormatError(f"{path}: head.safetensors has no {e.args[0]}") from None
    if w.ndim != 2 or b.shape != (w.shape[0],) or len(classes) != w.shape[0]:
        raise ClassifierFormatError(f"{path}: head shapes {w.shape}, {b.shape} do not match {len(classes)} classes")
    return centred(Head([str(k) for k in classes], w, b))


def convert_model2vec(
    model: reference.Reference,
    head_dir: str | Path,
    calib: Sequence[tuple[str, str]] | None = None,
    reject: float | None = None,
) -> bytes:
    """Build a classifier file from a model2vec head; ``reject`` takes the quantile of ``calib``'s top logits."""
    head = read_model2vec_head(head_dir)
    if head.weights.shape[1] != model.header.dims:
        raise ClassifierFormatError(f"the head takes {head.weights.shape[1]} dims, the model gives {model.header.dims}")
    mean_x = np.zeros(model.header.dims)
    threshold = None
    if calib:
        vecs = model.embed_batch([t for _, t in calib]).astype(np.int64)
        mean_x = vecs.mean(axis=0) / 2.0**model.header.out_shift
    if reject is not None:
        if not calib:
            raise ClassifierFormatError("--reject with --from-model2vec needs texts to calibrate on")
        if not 0.0 < reject < 1.0:
            raise ClassifierFormatError("--reject takes a fraction between 0 and 1")
        z = (vecs / 2.0**model.header.out_shift) @ head.weights.T + head.bias
        threshold = reject_threshold(z.max(axis=1), reject)
        logger.info("reject threshold: logit %.4f (the %g quantile over %d texts)", threshold, reject, len(calib))
    return assemble(head, mean_x, out_shift=model.header.out_shift, model_crc32=model.header.crc32, threshold=threshold)


# ------------------------------------------------------------------ command line
def accuracy(clf: Classifier, items: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Held-out figures: accuracy of the top class, and with rejection on (when the file has a threshold)."""
    s = clf.scores_batch(clf.model.embed_batch([t for _, t in items]).astype(np.int64))
    best = s.argmax(axis=1)
    want = np.array([lab for lab, _ in items])
    ok = np.array(clf.labels)[best] == want
    out = {"n": float(len(items)), "accuracy": float(ok.mean())}
    if clf.threshold is not None:
        acc = s.max(axis=1) >= clf.threshold
        out["rejected"] = float((~acc).mean())
        out["accepted_accuracy"] = float(ok[acc].mean()) if acc.any() else 0.0
        out["correct_and_accepted"] = float((ok & acc).mean())
    return out


def write_classifier(
    model: str | Path,
    train_path: str | Path | None,
    out: str | Path,
    *,
    test: str | Path | None = None,
    reject: float | None = None,
    c: float | None = None,
    from_model2vec: str | Path | None = None,
) -> int:
    """Train (or convert) a classifier into ``out`` (temp file + rename); log ``test`` accuracy; return its size."""
    ref = reference.load(model)
    items = hindex.read_items(train_path, need_label=True) if train_path is not None else None
    held = hindex.read_items(test, need_label=True) if test is not None else None
    if from_model2vec is not None:
        data = convert_model2vec(ref, from_model2vec, items, reject)
    elif items is None:
        raise ClassifierFormatError("training texts are needed (or --from-model2vec DIR)")
    else:
        data = train(ref, items, c=c, reject=reject)
    clf = Classifier(data, model=ref)
    if held is not None:
        unknown = sorted({lab for lab, _ in held} - set(clf.labels))
        if unknown:
            raise ClassifierFormatError(f"{test}: labels the classifier does not know: {', '.join(unknown[:5])}")
        a = accuracy(clf, held)
        msg = f"held-out accuracy: {a['accuracy']:.1%} of {int(a['n'])} texts"
        if "rejected" in a:
            msg += (
                f"; with rejection: {a['rejected']:.1%} rejected, {a['accepted_accuracy']:.1%} of the accepted "
                f"correct ({a['correct_and_accepted']:.1%} of all)"
            )
        logger.info(msg)
    out = write_atomic(out, data)
    h = clf.header
    thr = "none" if clf.threshold is None else f"{clf.threshold} (logit {clf.logit(clf.threshold):.3f})"
    logger.info(
        "wrote %s: %d classes, %d dims, score_shift %d, threshold %s, %d bytes",
        out, h.n_classes, h.dims, h.score_shift, thr, len(data),
    )  # fmt: skip
    return len(data)


# ------------------------------------------------------------------ reading a classifier
def _bad(msg: str) -> ClassifierFormatError:
    return ClassifierFormatError("corrupt m2v classifier: " + msg)


def parse_header(data: bytes, check_crc: bool = True) -> ClassifierHeader:
    """Check magic, version, size, section layout and CRC-32; return the header."""
    f = hindex.read_header(data, HEADER_FMT, MAGIC, VERSION, "classifier")
    h = ClassifierHeader(*f[3:17])
    if f[2] != HEADER_SIZE or h.flags & ~FLAG_REJECT or f[17] or f[19] or f[20]:
        raise _bad("bad header size, flags or reserved fields")
    hindex.check_size(data, h.file_size, "classifier")
    d, c = h.dims, h.n_classes
    bad_fields = f[18] != d + 2 or not 1 <= d <= 4096 or not 2 <= c <= MAX_CLASSES
    if bad_fields or h.score_shift > MAX_SCORE_SHIFT or h.out_shift > 15:
        raise _bad("inconsistent header fields")
    spans = [
        (h.weights_off, c * (d + 2)),
        (h.bias_off, 4 * c),
        (h.label_offs_off, 4 * (c + 1)),
        (h.labels_off, h.labels_size),
    ]
    hindex.check_sections(data, spans, h.crc32 if check_crc else None, "classifier")
    return h


class Classifier:
    """A classifier file on the host: the same integer scores as ``m2v.Classifier`` on the board, in numpy."""

    def __init__(self, src: str | Path | bytes, model: str | Path | reference.Reference | None = None) -> None:
        """Read and check a classifier (path or bytes); ``model`` embeds texts (default: the default model)."""
        data = bytes(src) if isinstance(src, bytes | bytearray) else Path(src).read_bytes()
        h = parse_header(data)
        self.header = h
        d, c = h.dims, h.n_classes
        self.dims, self.n_classes = d, c
        rec = np.frombuffer(data, np.uint8, c * (d + 2), h.weights_off).reshape(c, d + 2)
        self.rows = rec[:, :d].view(np.int8).astype(np.int64)
        self._rf = self.rows.astype(np.float64)  # for BLAS: every dot product is an integer below 2**30
        self.mults = rec[:, d:].copy().view("<u2").reshape(c).astype(np.int64)
        self.bias = np.frombuffer(data, "<i4", c, h.bias_off).astype(np.int64)
        if (np.abs(self.bias) > BIAS_MAX).any():
            raise _bad("bias out of range")
        offs = np.frombuffer(data, "<u4", c + 1, h.label_offs_off).astype(np.int64)
        if offs[0] != 0 or offs[-1] != h.labels_size or (np.diff(offs) < 0).any():
            raise _bad("label offsets")
        blob = data[h.labels_off : h.labels_off + h.labels_size]
        try:
            self.labels = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(c)]
        except UnicodeDecodeError:
            raise _bad("label is not UTF-8") from None
        self.threshold: int | None = h.threshold if h.flags & FLAG_REJECT else None
        self.l1_max = l1_limit(int(np.abs(self.bias).max()))
        self._model_src = model
        self._model: reference.Reference | None = model if isinstance(model, reference.Reference) else None

    @property
    def model(self) -> reference.Reference:
        """The model that embeds texts; its CRC-32 must be the one recorded in the classifier."""
        if self._model is None:
            self._model = reference.load(self._model_src if self._model_src is not None else hindex.DEFAULT_MODEL)
        hindex.check_model(self._model, self.header.model_crc32, "classifier")
        return self._model

    def query_vector(self, query: str | Sequence[int] | np.ndarray) -> np.ndarray:
        """Return the int64 input vector for a text or an int16 vector; ValueError when it breaks the bounds."""
        return hindex.query_vector(query, lambda: self.model, self.dims, self.l1_max, "classifier")

    def scores_batch(self, vecs: np.ndarray) -> np.ndarray:
        """Integer scores ``(n, C)`` of int16 vectors ``(n, D)`` (FORMAT.md, classifier §4)."""
        q = np.asarray(vecs, dtype=np.int64)
        if q.ndim != 2 or q.shape[1] != self.dims:
            raise ValueError(f"vectors must be (n, {self.dims})")
        if len(q) and int(np.abs(q).sum(axis=1).max()) > self.l1_max:
            raise ValueError(f"query vector too large for this classifier: sum of |q| above {self.l1_max}")
        dot = np.rint(q.astype(np.float64) @ self._rf.T).astype(np.int64)
        return self.bias + ((dot * self.mults) >> MULT_BITS)

    def scores(self, query: str | Sequence[int] | np.ndarray) -> list[tuple[str, int]]:
        """``[(label, score), ...]`` for every class, in class order."""
        s = self.scores_batch(self.query_vector(query)[None, :])[0]
        return [(lab, int(v)) for lab, v in zip(self.labels, s)]

    def predict(self, query: str | Sequence[int] | np.ndarray) -> tuple[str | None, int]:
        """``(label, score)`` of the best class (ties: the lower class), ``(None, score)`` below the threshold."""
        s = self.scores_batch(self.query_vector(query)[None, :])[0]
        best = int(np.argmax(s))  # the first maximum: the lower class number, as on the board
        top = int(s[best])
        if self.threshold is not None and top < self.threshold:
            return None, top
        return self.labels[best], top

    def logit(self, score: int) -> float:
        """Return the float logit a score stands for: ``score / 2**score_shift``."""
        return math.ldexp(score, -self.header.score_shift)
