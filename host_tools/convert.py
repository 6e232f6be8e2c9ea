"""Convert a model2vec model directory into one m2v binary (docs/FORMAT.md)."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from host_tools import binfmt as bf
from host_tools import hub, normtables, quant, trie
from host_tools.atomic import write_atomic
from host_tools.modeldir import Model, ModelError, load

logger = logging.getLogger(__name__)

MAX_LENGTH_LIMIT = 8192
# Rank/select sample spacing (log2): one sample per 256 nodes and per 64 groups.
H_SHIFT, G_SHIFT, T_SHIFT = 8, 6, 8


def _vocab_quantize(emb: np.ndarray, weights: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster per-token vectors into ``n`` centroids as model2vec does (k-means, seed 42)."""
    if n < 1:
        raise ModelError("--centroids must be positive")
    if n > len(emb):
        raise ModelError(f"--centroids {n} is more than the {len(emb)} token vectors")
    try:
        from model2vec.vocabulary_quantization import quantize_vocabulary
    except ImportError:
        raise ModelError("--centroids needs scikit-learn: pip install 'model2vec[quantization]'") from None
    logger.info("vocabulary quantisation: k-means of %d vectors into %d centroids", len(emb), n)
    centers, labels, w = quantize_vocabulary(n, weights, emb.astype(np.float32))
    return np.asarray(centers), np.asarray(labels, dtype=np.int64), np.asarray(w, dtype=np.float64)


def _reachable(text: str, continuation: bool, out_classes: dict[str, set[str]]) -> bool:
    """Tell whether the normaliser and pre-tokenizer can ever hand this token's text to WordPiece."""
    if not text:
        return False
    classes = [out_classes.get(c, set()) for c in text]
    if any(not k for k in classes):
        return False
    if len(text) == 1 and not continuation:
        return True
    return all(normtables.WORD in k for k in classes)


def convert_model(
    model: Model,
    *,
    centroids: int | None = None,
    dims: int | None = None,
    max_length: int | None = None,
    weight_bits: int = 7,
) -> bytes:
    """Build the binary for a loaded model; see :func:`convert` for the options."""
    tok = model.tokenizer
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    emb = model.embeddings
    if dims is not None:
        if not 1 <= dims <= emb.shape[1]:
            raise ModelError(f"--dims {dims} outside 1..{emb.shape[1]}")
        emb = emb[:, :dims]
    weights, mapping = model.weights, model.mapping
    if centroids is not None:
        per_token = emb[mapping] if mapping is not None else emb
        emb, mapping, weights = _vocab_quantize(per_token.astype(np.float64), weights, centroids)
    if mapping is None:
        mapping = np.arange(vocab_size, dtype=np.int64)
    n_rows, d = emb.shape
    if n_rows > 65535:
        raise ModelError(f"{n_rows} embedding rows exceed the format's 65,535; use --centroids N")
    if d > 4096:
        raise ModelError(f"{d} dimensions exceed the format's 4,096; use --dims D")
    rows, scales = quant.int8_rows(emb)
    w = weights if weights is not None else np.ones(vocab_size)
    eff = w * scales[mapping]

    ml = max_length if max_length is not None else model.max_length
    if ml is None:
        raise ModelError("config max_length is null (no truncation); pass --max-length N to bound the accumulators")
    if not 1 <= ml <= MAX_LENGTH_LIMIT:
        raise ModelError(f"max_length {ml} outside 1..{MAX_LENGTH_LIMIT}")
    mult_max = bf.mult_max_for(ml)
    levels, codes = quant.codebook(eff, weight_bits)
    top = levels.max() if len(levels) else 0.0
    wcodes = np.zeros(1 << weight_bits, dtype=np.int16)
    if top > 0:
        wcodes[: len(levels)] = np.rint(levels / top * mult_max).astype(np.int16)

    logger.info("normaliser tables: probing every code point")
    nt = normtables.build(tok)

    tj = model.tok_json
    wp = tj["model"]
    prefix = wp.get("continuing_subword_prefix") or ""
    unk = wp.get("unk_token")
    wp_vocab: dict[str, int] = wp["vocab"]
    if unk not in wp_vocab:
        raise ModelError(f"WordPiece unk_token {unk!r} is not in the vocabulary")
    unk_id = wp_vocab[unk]
    tokens = []
    for text, tid in wp_vocab.items():
        cont = bool(prefix) and text.startswith(prefix) and len(text) > len(prefix)
        body = text[len(prefix) :] if cont else text
        if tid == unk_id or not _reachable(body, cont, nt.out_classes):
            continue
        tokens.append((cont, body.encode(), tid, int(mapping[tid]), int(codes[tid])))
    tokens.sort(key=lambda t: t[2])
    tt = trie.build(tokens, vocab_size, n_rows, weight_bits, h_shift=H_SHIFT, g_shift=G_SHIFT, t_shift=T_SHIFT)

    added = bytearray(struct.pack("<H", len(tj.get("added_tokens", []))))
    for at in sorted(tj.get("added_tokens", []), key=lambda a: a["id"]):
        content = at["content"].encode()
        if not 0 < len(content) < 256:
            raise ModelError(f"added token {at['content']!r} must be 1..255 bytes")
        added += struct.pack("<B", len(content)) + content
        added += struct.pack("<IHH", at["id"], int(mapping[at["id"]]), int(codes[at["id"]]))

    names = [t for t, _ in sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])]
    median = int(np.median([len(t) for t in names]))
    norm_cfg = tj.get("normalizer") or {}
    lowercase = bool(norm_cfg.get("lowercase", False))
    strip = norm_cfg.get("strip_accents")
    strip = lowercase if strip is None else bool(strip)
    flags = (
        (bf.F_NORMALIZE if model.normalize else 0)
        | (bf.F_LOWERCASE if lowercase else 0)
        | (bf.F_STRIP_ACCENTS if strip and norm_cfg else 0)
        | (bf.F_CLEAN_TEXT if norm_cfg.get("clean_text") else 0)
        | (bf.F_CHINESE if norm_cfg.get("handle_chinese_chars") else 0)
    )
    header = bf.Header(
        flags=flags,
        dims=d,
        n_centroids=n_rows,
        vocab_size=vocab_size,
        n_records=tt.n_records,
        unk_id=unk_id,
        max_length=ml,
        median_token_length=median,
        pretrunc_chars=ml * median,
        max_word_chars=int(wp.get("max_input_chars_per_word", 100)),
        id_bits=tt.id_bits,
        map_bits=tt.map_bits,
        weight_bits=weight_bits,
        rec_bits=tt.id_bits + tt.map_bits + weight_bits,
        esc_base=trie.ESC_BASE,
        norm_bits=bf.norm_bits_for(d),
        out_shift=14,
        h_shift=H_SHIFT,
        g_shift=G_SHIFT,
        t_shift=T_SHIFT,
        sample_bytes=tt.sample_bytes,
        mult_max=mult_max,
        n_nodes=tt.n_nodes,
    )
    sections = {
        bf.ASCII: nt.ascii_table,
        bf.NORM_RUNS: nt.runs,
        bf.NORM_POOL: nt.pool,
        bf.ADDED: bytes(added),
        bf.SYMMAP: tt.symmap,
        bf.NODES: tt.nodes,
        bf.HASKIDS: tt.haskids,
        bf.HRANK: tt.hrank,
        bf.GSTART: tt.gstart,
        bf.TRANK: tt.trank,
        bf.RECORDS: tt.records,
        bf.WCODES: wcodes.astype("<i2").tobytes(),
        bf.CENTROIDS: rows.tobytes(),
    }
    return bf.assemble(header, sections)


def convert(
    folder: str | Path,
    out: str | Path,
    *,
    centroids: int | None = None,
    dims: int | None = None,
    max_length: int | None = None,
    weight_bits: int = 7,
) -> int:
    """Convert ``folder`` (or a Hugging Face hub id ``ORG/NAME``) into the binary ``out``; return its size.

    ``centroids`` re-quantises the vocabulary by k-means, ``dims`` keeps the
    first dimensions, ``max_length`` overrides the config's truncation. The
    file is written to a temporary name beside ``out`` and renamed into place,
    so a failure leaves any existing ``out`` untouched.
    """
    if not 4 <= weight_bits <= 12:
        raise ModelError(f"weight bits {weight_bits} outside 4..12")
    model = load(hub.resolve(folder))
    data = convert_model(model, centroids=centroids, dims=dims, max_length=max_length, weight_bits=weight_bits)
    out = write_atomic(out, data)
    logger.info("wrote %s: %d bytes", out, len(data))
    return len(data)
