"""Search index files (docs/FORMAT.md, "Index file"): build them on the host, search them like the board.

An index holds the embeddings of many texts, each with a label, as int8
residuals from the index's mean vector with one 15-bit scale per entry. A
query (a text, embedded with the same model, or a Q14 vector) is scored
against every entry with integer arithmetic that the board repeats bit for
bit (``device/m2v/index.py``); this module is the host side: the builder
behind ``python -m host_tools index`` and an independent numpy search.

    >>> from host_tools.index import Index
    >>> idx = Index("intents.m2vi", model="firmware_assets/model.m2v")
    >>> idx.search("switch the lights off", k=3)   # [(score, label), ...] best first
    >>> idx.cosine(score)                          # ≈ cosine of query and entry
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host_tools import reference
from host_tools.atomic import write_atomic

logger = logging.getLogger(__name__)

MAGIC = b"M2VI"
VERSION = 1
VERSION_GROW = 2  # a version 1 base followed by a log of appended entries (FORMAT.md, index §6)
VERSIONS = (VERSION, VERSION_GROW)
HEADER_SIZE = 64
# magic, version, header_size, file_size, crc32, dims, out_shift, score_shift, count, model_crc32,
# n_labels, center_off, entries_off, label_ids_off, label_offs_off, labels_off, labels_size,
# label_id_bytes, flags, entry_size, reserved
HEADER_FMT = "<4sHHIIHBB" + "I" * 9 + "BBHI"
# version 2: the same up to flags, then label_max, a reserved byte and the threshold
HEADER_FMT_V2 = "<4sHHIIHBB" + "I" * 9 + "BBBBi"
assert struct.calcsize(HEADER_FMT) == struct.calcsize(HEADER_FMT_V2) == HEADER_SIZE
FLAG_THRESHOLD = 1  # version 2: the threshold field is set (m2v.ClassMeans rejects below it)
LABEL_MAX = 32  # default longest label (UTF-8 bytes) an appended entry holds
Q14_PEAK = 16417  # |q[d]| of a Q14 unit vector (FORMAT.md §6)
REMOVED = 0xFFFF  # the multiplier of a removal slot (version 2): removes the entries before it with its label
MULT_BITS = 15  # per-entry multipliers are < 2**15
MULT_MAX = (1 << MULT_BITS) - 1
SMALL = 1 << 30  # every partial sum stays below this: a MicroPython small int, an int32 in the C core
MAX_LABEL_BYTES = 65535
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "firmware_assets" / "model.m2v"


class IndexFormatError(ValueError):
    """Bad input for the index builder or a corrupt index file (a ValueError)."""


@dataclass(frozen=True)
class IndexHeader:
    """The fixed 64-byte header of an index file."""

    file_size: int
    crc32: int
    dims: int
    out_shift: int
    score_shift: int
    count: int
    model_crc32: int
    n_labels: int
    center_off: int
    entries_off: int
    label_ids_off: int
    label_offs_off: int
    labels_off: int
    labels_size: int
    label_id_bytes: int
    version: int = VERSION
    flags: int = 0
    label_max: int = 0  # version 2: the longest label of an appended entry, in UTF-8 bytes
    threshold: int = 0  # version 2, with FLAG_THRESHOLD: the class-means rejection threshold


def l1_limit(dims: int, center_max: int, score_shift: int) -> int:
    """Largest ``sum(|q[d]|)`` a query may have so that every partial sum stays below 2**30.

    ``|dot| <= 127 * L1``, ``|bias| <= L1 * center_max / 2**t + dims`` (floor of each term), and
    ``|score| <= |dot| + |bias|``; ``(center_max >> t) + 1`` bounds ``center_max / 2**t`` from above.
    """
    return (SMALL - 1 - dims) // (128 + (center_max >> score_shift))


# ------------------------------------------------------------------ reading input
def read_items(path: str | Path, need_label: bool = False) -> list[tuple[str, str]]:
    """Read ``(label, text)`` pairs: one text per line (its own label), or JSONL ``{"label", "text"}``.

    A file whose name ends in ``.jsonl`` or whose first non-blank line starts
    with ``{`` is JSONL. Blank lines are skipped. Raise ValueError with the
    line number on bad input; with ``need_label``, on a text without a ``"label"``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: no such file") from None
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IndexFormatError(f"{path}: not UTF-8 text (byte {e.start})") from None
    content = content.removeprefix("\ufeff")
    lines = content.split("\n")
    first = next((ln for ln in lines if ln.strip()), "")
    jsonl = path.suffix.lower() == ".jsonl" or first.lstrip().startswith("{")
    items: list[tuple[str, str]] = []
    for no, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if not jsonl:
            if need_label:
                raise IndexFormatError(f'{path}:{no}: expected JSONL objects with "label" and "text"')
            items.append((line, line))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise IndexFormatError(f"{path}:{no}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise IndexFormatError(f'{path}:{no}: expected an object with a string "text"')
        if need_label and "label" not in obj:
            raise IndexFormatError(f'{path}:{no}: no "label"')
        label = obj.get("label", obj["text"])
        if not isinstance(label, str):
            raise IndexFormatError(f'{path}:{no}: "label" must be a string')
        items.append((label, obj["text"]))
    if not items:
        raise IndexFormatError(f"{path}: no texts")
    return items


# ------------------------------------------------------------------ quantisation
def min_score_shift(dims: int) -> int:
    """Smallest score shift for which every Q14 unit vector query passes :func:`l1_limit`.

    A unit vector in Q14 has ``|q|_2 <= 16417`` (FORMAT.md §6), so ``sum |q| <= sqrt(dims) * 16417``,
    and ``|center[d]| <= 16400`` (a mean of such vectors).
    """
    l1 = math.isqrt(dims * 16417 * 16417) + 1
    t = 0
    while l1 > l1_limit(dims, 16400, t):
        t += 1
    return t


def quantize(
    vectors: np.ndarray, grow: bool = False, center: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Quantise Q14 vectors ``(n, d)`` into ``(center, v, mult, score_shift)`` (FORMAT.md, index §3).

    ``center`` is the rounded mean (int16), ``v`` the int8 residuals, each row
    scaled to use the full ±127 range, ``mult`` the per-row least-squares
    scale of the residual in units of ``2**score_shift / 2**15``. ``grow``: a
    score shift at which any Q14 vector can be appended later (:func:`grow_shift`);
    ``center``: this one instead of the mean (an index created empty has no mean).
    """
    e = vectors.astype(np.int64)
    n, d = e.shape
    if center is not None:
        center = np.asarray(center, dtype=np.int64)
        if center.shape != (d,) or (np.abs(center) > 16400).any():
            raise IndexFormatError(f"center must be {d} integers within ±16400")
    elif n:
        center = np.rint(e.mean(axis=0)).astype(np.int64)
    else:
        center = np.zeros(d, dtype=np.int64)
    r = (e - center).astype(np.float64)
    peak = np.abs(r).max(axis=1) if d else np.zeros(n)
    step = np.where(peak > 0, peak / 127.0, 1.0)
    v = np.clip(np.rint(r / step[:, None]), -127, 127)
    vv = (v * v).sum(axis=1)
    sigma = np.where(vv > 0, (r * v).sum(axis=1) / np.maximum(vv, 1), 0.0)  # least-squares refit
    sigma = np.maximum(sigma, 0.0)
    top = float(sigma.max()) if n else 0.0
    t = min_score_shift(d)
    if grow:
        t = max(t, grow_shift(int(np.abs(center).max(initial=0))))
    while top * 2.0 ** (MULT_BITS - t) > MULT_MAX:
        t += 1
    if t > 15:
        raise IndexFormatError("residual scale out of range")
    mult = np.minimum(np.rint(sigma * 2.0 ** (MULT_BITS - t)), MULT_MAX).astype(np.int64)
    return center.astype(np.int16), v.astype(np.int8), mult.astype(np.uint16), t


def grow_shift(center_max: int) -> int:
    """Smallest score shift at which every Q14 unit vector appended to an index fits (FORMAT.md, index §6).

    An appended entry's multiplier is ``m <= 1.5 * peak / 127 * 2**(15 - t) + 1/2`` with
    ``peak <= Q14_PEAK + center_max``; it must stay <= MULT_MAX. Always >= :func:`min_score_shift`
    for dims <= 4096 (8 against at most 5).
    """
    peak = Q14_PEAK + center_max
    t = 0
    while 3 * peak * (1 << (MULT_BITS - t)) > 254 * (MULT_MAX - 1):
        t += 1
    return t


def slot_size(dims: int, label_max: int) -> int:
    """Bytes of one appended entry (FORMAT.md, index §6): record, label length, label, CRC-32, to 4 bytes."""
    return (dims + 2 + 1 + label_max + 4 + 3) & ~3


def entry_record(e: Sequence[int], center: Sequence[int], score_shift: int) -> tuple[list[int], int]:
    """``(v, m)`` of an appended entry for the Q14 vector ``e``: exact integers, as ``m2v.Index.add`` computes them.

    ``r = e - center``; ``v[d] = round(r[d] * 127 / peak)`` (halves away from zero), ``peak = max |r|``;
    ``m = round(2**(15 - t) * (r . v) / (v . v))`` (halves up). Raise ValueError when m > MULT_MAX.
    """
    r = [int(a) - int(c) for a, c in zip(e, center)]
    peak = max((abs(x) for x in r), default=0)
    if peak == 0:
        return [0] * len(r), 0
    v = [(1 if x > 0 else -1) * ((254 * abs(x) + peak) // (2 * peak)) for x in r]
    rv = sum(x * y for x, y in zip(r, v))
    vv = sum(y * y for y in v)
    m = ((rv << (MULT_BITS + 1 - score_shift)) + vv) // (2 * vv)
    if m > MULT_MAX:
        raise ValueError("vector too far from the index's center to add (multiplier above 32767)")
    return v, m


def slot_bytes(v: Sequence[int], m: int, label: str, label_max: int, seed: int) -> bytes:
    """One appended entry: the record ``v``, ``m``, the label, its CRC-32 (``seed``: :func:`slot_seed`)."""
    lb = label.encode("utf-8")
    if len(lb) > label_max:
        raise ValueError(f"label is {len(lb)} bytes, this index holds at most {label_max}")
    d = len(v)
    s = bytearray(slot_size(d, label_max))
    s[:d] = bytes(x & 0xFF for x in v)
    struct.pack_into("<HB", s, d, m, len(lb))
    s[d + 3 : d + 3 + len(lb)] = lb
    struct.pack_into("<I", s, len(s) - 4, zlib.crc32(s[:-4], seed))
    return bytes(s)


def slot_seed(base_crc32: int, entry: int) -> int:
    """Return the CRC-32 start value of appended entry number ``entry``: ties it to its index and its place."""
    return (base_crc32 ^ entry) & 0xFFFFFFFF


def _pad4(b: bytearray) -> None:
    b.extend(bytes(-len(b) % 4))


def assemble(
    vectors: np.ndarray,
    labels: Sequence[str],
    *,
    out_shift: int = 14,
    model_crc32: int = 0,
    grow: bool = False,
    label_max: int = LABEL_MAX,
    threshold: int | None = None,
    center: np.ndarray | None = None,
) -> bytes:
    """Build an index file from Q14 vectors ``(n, d)`` and one label per vector.

    ``grow``: version 2 (FORMAT.md, index §6), which the board appends to (``m2v.Index.add``), with
    no entries allowed; ``label_max`` bytes per appended label, ``threshold`` for ``m2v.ClassMeans``,
    ``center`` instead of the mean.
    """
    n, d = vectors.shape
    if n != len(labels):
        raise IndexFormatError(f"{n} vectors but {len(labels)} labels")
    if n == 0 and not grow:
        raise IndexFormatError("an index needs at least one entry")
    if n >= 1 << 32 or not 1 <= d <= 4096:
        raise IndexFormatError("index too large or dims outside 1..4096")
    if grow and not 1 <= label_max <= 255:
        raise IndexFormatError("label_max must be 1..255")
    if threshold is not None and not (grow and -(1 << 31) <= threshold < 1 << 31):
        raise IndexFormatError("a threshold needs version 2 (grow) and an int32")
    center, v, mult, t = quantize(vectors, grow, center)
    return layout(center, v, mult, t, labels, out_shift=out_shift, model_crc32=model_crc32, grow=grow,
                  label_max=label_max, threshold=threshold)  # fmt: skip


def layout(
    center: np.ndarray,
    v: np.ndarray,
    mult: np.ndarray,
    t: int,
    labels: Sequence[str],
    *,
    out_shift: int,
    model_crc32: int,
    grow: bool,
    label_max: int,
    threshold: int | None,
) -> bytes:
    """Lay out an index file from quantised entries (:func:`quantize`'s ``center, v, mult, t``) and labels."""
    n, d = v.shape
    uniq: dict[str, int] = {}
    ids = np.empty(n, dtype=np.int64)
    for i, lab in enumerate(labels):
        if "\x00" in lab:
            raise IndexFormatError(f"label {i} contains a NUL character")
        ids[i] = uniq.setdefault(lab, len(uniq))
    blobs = [lab.encode("utf-8") for lab in uniq]
    for i, b in enumerate(blobs):
        if len(b) > MAX_LABEL_BYTES:
            raise IndexFormatError(f"label {i} is {len(b)} bytes, more than {MAX_LABEL_BYTES}")
    id_bytes = 2 if len(uniq) <= 0xFFFF else 4
    offs = np.zeros(len(blobs) + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(b) for b in blobs])

    body = bytearray(HEADER_SIZE)
    center_off = len(body)
    body += center.astype("<i2").tobytes()
    _pad4(body)
    entries_off = len(body)
    rec = np.zeros((n, d + 2), dtype=np.uint8)
    rec[:, :d] = v.view(np.uint8)
    rec[:, d:] = mult.astype("<u2").view(np.uint8).reshape(n, 2)
    body += rec.tobytes()
    _pad4(body)
    label_ids_off = len(body)
    body += ids.astype("<u2" if id_bytes == 2 else "<u4").tobytes()
    _pad4(body)
    label_offs_off = len(body)
    body += offs.astype("<u4").tobytes()
    labels_off = len(body)
    body += b"".join(blobs)
    _pad4(body)
    fields = (
        MAGIC, VERSION_GROW if grow else VERSION, HEADER_SIZE, len(body), 0, d, out_shift, t, n, model_crc32,
        len(uniq), center_off, entries_off, label_ids_off, label_offs_off, labels_off, int(offs[-1]), id_bytes,
    )  # fmt: skip
    if grow:
        flag = FLAG_THRESHOLD if threshold is not None else 0
        header = struct.pack(HEADER_FMT_V2, *fields, flag, label_max, 0, threshold or 0)
    else:
        header = struct.pack(HEADER_FMT, *fields, 0, d + 2, 0)
    body[:HEADER_SIZE] = header
    struct.pack_into("<I", body, 12, zlib.crc32(body[16:]))
    return bytes(body)


def build_index(model: str | Path | reference.Reference, items: Sequence[tuple[str, str]], **grow) -> bytes:
    """Embed the texts of ``(label, text)`` items with the reference and assemble the index bytes.

    ``grow`` passes ``grow=True`` (version 2), ``label_max``, ``threshold`` or ``center`` to :func:`assemble`.
    """
    ref = model if isinstance(model, reference.Reference) else reference.load(model)
    texts = [t for _, t in items]
    logger.info("embedding %d texts", len(texts))
    vecs = ref.embed_batch(texts) if texts else np.zeros((0, ref.header.dims), dtype=np.int16)
    zero = int((~vecs.any(axis=1)).sum())
    if zero:
        logger.warning("%d of %d texts embed to the zero vector (no known token)", zero, len(texts))
    labels = [lab for lab, _ in items]
    return assemble(vecs, labels, out_shift=ref.header.out_shift, model_crc32=ref.header.crc32, **grow)


def write_index(model: str | Path, texts_path: str | Path, out: str | Path, **grow) -> int:
    """Build the index of ``texts_path`` with ``model`` into ``out`` (temp file + rename); return its size.

    ``grow``: as :func:`build_index` (``grow=True`` writes version 2, which the board appends to).
    """
    items = read_items(texts_path)
    data = build_index(model, items, **grow)
    out = write_atomic(out, data)
    hdr = parse_header(data)
    logger.info("wrote %s: %d entries, %d labels, %d dims, %d bytes", out, hdr.count, hdr.n_labels, hdr.dims, len(data))
    return len(data)


# ------------------------------------------------------------------ reading an index
def _bad(msg: str) -> IndexFormatError:
    return IndexFormatError("corrupt m2v index: " + msg)


def read_header(data: bytes, fmt: str, magic: bytes, version: int | tuple[int, ...], what: str) -> tuple:
    """Unpack the 64-byte header of a file of int8 rows (index or classifier) once magic and version are right.

    ``version``: the version, or the versions, this reader supports.
    """
    if len(data) < HEADER_SIZE:
        raise IndexFormatError(f"not an m2v {what}: shorter than the 64-byte header")
    f = struct.unpack_from(fmt, data, 0)
    if f[0] != magic:
        raise IndexFormatError(f"not an m2v {what}: bad magic")
    versions = version if isinstance(version, tuple) else (version,)
    if f[1] not in versions:
        supported = ", ".join(map(str, versions))
        raise IndexFormatError(f"unsupported m2v {what} version {f[1]}; this reader supports {supported}")
    return f


def check_size(data: bytes, file_size: int, what: str) -> None:
    """Refuse a file shorter or longer than its header says."""
    if len(data) < file_size:
        raise IndexFormatError(f"truncated m2v {what}: {len(data)} bytes, header says {file_size}")
    if len(data) > file_size:
        raise IndexFormatError(f"corrupt m2v {what}: {len(data) - file_size} bytes of trailing data")


def check_sections(data: bytes, spans: Sequence[tuple[int, int]], crc32: int | None, what: str) -> None:
    """Sections ``(offset, size)`` in file order: aligned, in order, inside; then the CRC-32 (None: not checked)."""
    end = HEADER_SIZE
    for off, size in spans:
        if off < end or off & 3 or off + size > len(data):
            raise IndexFormatError(f"corrupt m2v {what}: bad section offsets")
        end = off + size
    if crc32 is not None and zlib.crc32(data[16:]) != crc32:
        raise IndexFormatError(f"corrupt m2v {what}: CRC-32 mismatch")


def parse_header(data: bytes, check_crc: bool = True) -> IndexHeader:
    """Check magic, version, size, CRC-32 and section layout; return the header.

    Version 2: ``file_size`` is the size of the base (header and sections); the log of appended
    entries after it is read by :func:`read_log`.
    """
    f = read_header(data, HEADER_FMT, MAGIC, VERSIONS, "index")
    if f[1] == VERSION:
        h = IndexHeader(*f[3:18])
        if f[2] != HEADER_SIZE or f[18] != 0 or f[20] != 0:
            raise _bad("bad header size or flags")
        check_size(data, h.file_size, "index")
        empty = 1  # version 1 holds at least one entry and label
        ok = f[19] == h.dims + 2
    else:
        f = struct.unpack_from(HEADER_FMT_V2, data, 0)
        h = IndexHeader(*f[3:18], version=f[1], flags=f[18], label_max=f[19], threshold=f[21])
        if f[2] != HEADER_SIZE or f[18] & ~FLAG_THRESHOLD or f[20] != 0:
            raise _bad("bad header size or flags")
        if len(data) < h.file_size:
            raise IndexFormatError(f"truncated m2v index: {len(data)} bytes, header says {h.file_size}")
        empty = 0
        ok = 1 <= h.label_max
    d, n = h.dims, h.count
    if not ok or not 1 <= d <= 4096 or n < empty or h.n_labels < empty or h.label_id_bytes not in (2, 4):
        raise _bad("inconsistent header fields")
    if h.score_shift > 15 or h.out_shift > 15:
        raise _bad("inconsistent header fields")
    spans = [
        (h.center_off, 2 * d),
        (h.entries_off, n * (d + 2)),
        (h.label_ids_off, n * h.label_id_bytes),
        (h.label_offs_off, 4 * (h.n_labels + 1)),
        (h.labels_off, h.labels_size),
    ]
    check_sections(data[: h.file_size], spans, h.crc32 if check_crc else None, "index")
    return h


@dataclass(frozen=True)
class Log:
    """The appended entries of a version 2 index (FORMAT.md, index §6)."""

    slots: list[bytes]  # the committed slots, in order
    torn: int  # bytes after them: an append that did not complete (ignored; the next one overwrites them)


def read_log(data: bytes, h: IndexHeader, check_crc: bool = True) -> Log:
    """Return the committed appended entries after the base of a version 2 index, and the torn tail's size.

    A slot whose CRC-32 fails is the torn tail only when nothing but a part of a slot follows it; a
    failing slot before another full slot is corruption (IndexFormatError). ``check_crc`` False
    checks the last full slot alone.
    """
    s = slot_size(h.dims, h.label_max)
    rest = len(data) - h.file_size
    full, part = divmod(rest, s)
    slots = [data[h.file_size + i * s : h.file_size + (i + 1) * s] for i in range(full)]
    bad = full
    for i in range(full) if check_crc else range(full - 1, full) if full else ():
        b = slots[i]
        if zlib.crc32(b[:-4], slot_seed(h.crc32, h.count + i)) != struct.unpack_from("<I", b, s - 4)[0]:
            bad = i
            break
    if bad < full - 1 or bad == full - 1 and part:
        raise _bad(f"appended entry {h.count + bad} fails its CRC-32")
    slots = slots[:bad]
    for b in slots:
        if b[h.dims + 2] > h.label_max:
            raise _bad("appended label longer than label_max")
    return Log(slots, rest - len(slots) * s)


# ------------------------------------------------------------------ queries (shared with host_tools.classifier)
def check_model(model: reference.Reference, model_crc32: int, what: str) -> None:
    """Refuse a model other than the one (by header CRC-32) a file of int8 rows was built with."""
    if model.header.crc32 != model_crc32:
        raise IndexFormatError(
            f"the {what} was built with model crc32 {model_crc32:08x}, not with this one ({model.header.crc32:08x})"
        )


def query_vector(
    query: str | Sequence[int] | np.ndarray,
    model: Callable[[], reference.Reference],
    dims: int,
    l1_max: int,
    what: str,
) -> np.ndarray:
    """Return the int64 query vector for a text (embedded by ``model()``) or an int16 vector, within ``l1_max``."""
    if isinstance(query, str):
        q = model().embed(query).astype(np.int64)
    else:
        q = np.asarray(query)
        if q.ndim != 1 or len(q) != dims or not np.issubdtype(q.dtype, np.integer):
            raise ValueError(f"query vector must be {dims} integers")
        q = q.astype(np.int64)
        if (q < -32768).any() or (q > 32767).any():
            raise ValueError("query vector components must fit int16")
    if int(np.abs(q).sum()) > l1_max:
        raise ValueError(f"query vector too large for this {what}: sum of |q| above {l1_max}")
    return q


class Index:
    """An index file on the host: the same search as ``m2v.Index`` on the board, in numpy."""

    def __init__(self, src: str | Path | bytes, model: str | Path | reference.Reference | None = None) -> None:
        """Read and check an index (path or bytes); ``model`` embeds text queries (default: the default model)."""
        data = bytes(src) if isinstance(src, bytes | bytearray) else Path(src).read_bytes()
        h = parse_header(data)
        self.header = h
        self.dims, self.count = h.dims, h.count
        d, n = h.dims, h.count
        self.center = np.frombuffer(data, "<i2", d, h.center_off).astype(np.int64)
        rec = np.frombuffer(data, np.uint8, n * (d + 2), h.entries_off).reshape(n, d + 2)
        self.vectors = rec[:, :d].view(np.int8).astype(np.int64)
        # float64 copy for BLAS: every dot product is an integer below 2**30, exact in a double
        self._vf = self.vectors.astype(np.float64)
        self.mults = rec[:, d:].copy().view("<u2").reshape(n).astype(np.int64)
        if (self.mults > MULT_MAX).any():
            raise _bad("entry multiplier out of range")
        self.label_ids = np.frombuffer(data, "<u2" if h.label_id_bytes == 2 else "<u4", n, h.label_ids_off).astype(
            np.int64
        )
        offs = np.frombuffer(data, "<u4", h.n_labels + 1, h.label_offs_off).astype(np.int64)
        if offs[0] != 0 or offs[-1] != h.labels_size or (np.diff(offs) < 0).any():
            raise _bad("label offsets")
        if (self.label_ids >= h.n_labels).any():
            raise _bad("label id out of range")
        blob = data[h.labels_off : h.labels_off + h.labels_size]
        try:
            self.labels = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(h.n_labels)]
        except UnicodeDecodeError:
            raise _bad("label is not UTF-8") from None
        self.center_max = int(np.abs(self.center).max())
        self.l1_max = l1_limit(d, self.center_max, h.score_shift)
        self._model_src = model
        self._model: reference.Reference | None = model if isinstance(model, reference.Reference) else None
        self._path = None if isinstance(src, bytes | bytearray) else Path(src)
        self.torn = 0  # bytes of an append that did not complete (version 2): ignored
        self._label_no = {lab: i for i, lab in reversed(list(enumerate(self.labels)))}
        if h.version == VERSION_GROW:
            log = read_log(data, h)
            self.torn = log.torn
            rows, mults, labels = [], [], []
            for b in log.slots:
                try:
                    labels.append(b[d + 3 : d + 3 + b[d + 2]].decode("utf-8"))
                except UnicodeDecodeError:
                    raise _bad("label is not UTF-8") from None
                rows.append(np.frombuffer(b, np.int8, d))
                mults.append(struct.unpack_from("<H", b, d)[0])
            self._append(rows, mults, labels)
        self._mark_removed()

    def _mark_removed(self) -> None:
        """Mark the removal slots (m = 0xFFFF) and the entries before each with its label (FORMAT.md, index §6)."""
        self.dead = np.zeros(self.count, dtype=bool)
        ids = self.label_ids
        for p in np.flatnonzero(self.mults == REMOVED):
            self.dead[: p + 1] |= ids[: p + 1] == ids[p]
            self.dead[p] = True

    def __len__(self) -> int:
        """Return the number of live entries (all but the removed ones and the removal slots)."""
        return int((~self.dead).sum())

    def compact(self) -> bytes:
        """Return this index without its removed entries: a version 2 file whose base holds the live entries.

        The live records are copied as they are (same center, score shift and multipliers), so every
        live entry scores as before; entry numbers change (the live ones, in order) and the file
        shrinks by the removed entries and the removal slots. Write it over the old file with
        ``host_tools.atomic.write_atomic`` and copy it to the board.
        """
        h = self.header
        if h.version != VERSION_GROW:
            raise IndexFormatError(f"an m2v index version {h.version} has no removed entries to compact")
        live = np.flatnonzero(~self.dead)
        return layout(
            self.center.astype(np.int16), self.vectors[live].astype(np.int8), self.mults[live].astype(np.uint16),
            h.score_shift, [self.label(int(i)) for i in live], out_shift=h.out_shift, model_crc32=h.model_crc32,
            grow=True, label_max=h.label_max, threshold=h.threshold if h.flags & FLAG_THRESHOLD else None,
        )  # fmt: skip

    def remove(self, label: str) -> int:
        """Remove every entry with ``label`` (a removal slot, as ``m2v.Index.remove``); return how many."""
        gone = sum(1 for i in range(self.count) if not self.dead[i] and self.label(i) == label)
        if gone:
            self._write([0] * self.dims, REMOVED, label)
            self._mark_removed()
        return gone

    # ---------------------------------------------------------------- appending (version 2)
    def _append(self, rows: Sequence, mults: Sequence[int], labels: Sequence[str]) -> None:
        if not rows:
            return
        if any(m > MULT_MAX and m != REMOVED for m in mults):
            raise _bad("entry multiplier out of range")
        block = np.asarray(rows, dtype=np.int64).reshape(len(rows), self.dims)
        self.vectors = np.vstack([self.vectors, block])
        self._vf = np.vstack([self._vf, block.astype(np.float64)])
        self.mults = np.append(self.mults, np.asarray(mults, dtype=np.int64))
        for label in labels:
            if label not in self._label_no:
                self._label_no[label] = len(self.labels)
                self.labels.append(label)
        self.label_ids = np.append(self.label_ids, [self._label_no[lab] for lab in labels])
        self.count += len(rows)

    def add(self, item: str | Sequence[int] | np.ndarray, label: str) -> int:
        """Append an entry (a text, embedded by the model, or a Q14 vector) with ``label``; return its number.

        The twin of ``m2v.Index.add`` (FORMAT.md, index §6): the same slot bytes; an index read from a
        path gets them written at the end of its committed log (over a torn tail), flushed and synced.
        """
        h = self.header
        if h.version != VERSION_GROW:
            raise IndexFormatError(f"an m2v index version {h.version} cannot grow: build it with --grow (version 2)")
        v, m = entry_record(self.query_vector(item), self.center, h.score_shift)
        n = self._write(v, m, label)
        self.dead = np.append(self.dead, False)
        return n

    def _write(self, v: Sequence[int], m: int, label: str) -> int:
        h = self.header
        if h.version != VERSION_GROW:
            raise IndexFormatError(f"an m2v index version {h.version} cannot grow: build it with --grow (version 2)")
        slot = slot_bytes(v, m, label, h.label_max, slot_seed(h.crc32, self.count))
        if self._path is not None:
            with self._path.open("r+b") as f:
                f.seek(h.file_size + (self.count - h.count) * len(slot))
                f.write(slot)
                f.flush()
                os.fsync(f.fileno())
            self.torn = max(0, self.torn - len(slot))
        self._append([v], [m], [label])
        return self.count - 1

    # ---------------------------------------------------------------- queries
    @property
    def model(self) -> reference.Reference:
        """The model that embeds text queries; its CRC-32 must be the one recorded in the index."""
        if self._model is None:
            self._model = reference.load(self._model_src if self._model_src is not None else DEFAULT_MODEL)
        check_model(self._model, self.header.model_crc32, "index")
        return self._model

    def query_vector(self, query: str | Sequence[int] | np.ndarray) -> np.ndarray:
        """Return the int64 query vector for a text or an int16 vector; ValueError when it breaks the bounds."""
        return query_vector(query, lambda: self.model, self.dims, self.l1_max, "index")

    def scores(self, query: str | Sequence[int] | np.ndarray) -> np.ndarray:
        """Integer score of every entry (FORMAT.md, index §4): ``≈ cosine * 2**(2*out_shift - score_shift)``."""
        return self._scores_block([self.query_vector(query)])[0]

    def _scores_block(self, qs: Sequence[np.ndarray]) -> np.ndarray:
        q = np.stack(qs)  # (nq, dims) int64
        bias = ((q * self.center) >> self.header.score_shift).sum(axis=1)
        # dot products are integers below 2**30 (the L1 check): exact in float64, so BLAS may compute them
        dot = np.rint(q.astype(np.float64) @ self._vf.T).astype(np.int64)
        return bias[:, None] + ((dot * self.mults) >> MULT_BITS)

    def _top(self, s: np.ndarray, k: int) -> list[tuple[int, int]]:
        live = np.flatnonzero(~self.dead)
        if k < len(live):
            kth = np.partition(s[live], len(live) - k)[len(live) - k]  # k-th largest score
            cand = live[s[live] >= kth]  # every entry that may rank in the top k, ties included
        else:
            cand = live
        order = cand[np.lexsort((cand, -s[cand]))][:k]
        return [(int(s[i]), int(i)) for i in order]

    def search_ids(self, query: str | Sequence[int] | np.ndarray, k: int = 5) -> list[tuple[int, int]]:
        """Return the ``k`` best ``(score, entry)`` pairs, best first; equal scores: lower entry first."""
        return self.search_ids_batch([query], k)[0]

    def search_ids_batch(self, queries: Sequence, k: int = 5, block: int = 256) -> list[list[tuple[int, int]]]:
        """:meth:`search_ids` for many queries (a matrix product per ``block`` queries)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        out: list[list[tuple[int, int]]] = []
        for b in range(0, len(queries), block):
            s = self._scores_block([self.query_vector(q) for q in queries[b : b + block]])
            out.extend(self._top(row, k) for row in s)
        return out

    def search(self, query: str | Sequence[int] | np.ndarray, k: int = 5) -> list[tuple[int, str]]:
        """Return the ``k`` best ``(score, label)`` pairs, best first; equal scores: lower entry first."""
        return [(s, self.label(i)) for s, i in self.search_ids(query, k)]

    def label(self, i: int) -> str:
        """Label of entry ``i``."""
        return self.labels[int(self.label_ids[i])]

    def cosine(self, score: int) -> float:
        """Approximate cosine for a score."""
        h = self.header
        return math.ldexp(score, h.score_shift - 2 * h.out_shift)
