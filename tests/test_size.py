"""The default binary fits the 720,000-byte budget, and conversion is deterministic."""

from __future__ import annotations

import hashlib

from host_tools import binfmt as bf

BUDGET = 720_000


def test_committed_binary_fits(model_bin, report):
    size = model_bin.stat().st_size
    report("size: firmware_assets/model.m2v (bytes)", f"{size:,} (budget {BUDGET:,}, headroom {BUDGET - size:,})")
    assert size <= BUDGET


def test_arbitrary_weights_fit(weights_model, model_bin, report):
    """The budget does not depend on the particular weights: same shape, random weights, still fits."""
    _, out = weights_model
    size = out.stat().st_size
    report("size: same shape, log-uniform random weights (bytes)", f"{size:,}")
    assert size <= BUDGET
    h = bf.unpack_header(out.read_bytes())
    assert (h.dims, h.n_centroids, h.vocab_size) == (256, 2000, 29525)


def test_reconversion_is_byte_identical(fresh_default_bytes, model_bin):
    committed = model_bin.read_bytes()
    assert len(fresh_default_bytes) == len(committed)
    assert hashlib.sha256(fresh_default_bytes).hexdigest() == hashlib.sha256(committed).hexdigest(), (
        "converting firmware_assets/potion-minilm-micro no longer reproduces firmware_assets/model.m2v: run make convert"
    )


def test_two_conversions_identical(fresh_default_bytes, cli_default_output):
    """In this process and in a subprocess with another PYTHONHASHSEED: the same bytes."""
    proc, out = cli_default_output
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == fresh_default_bytes
