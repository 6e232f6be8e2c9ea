"""Loader fuzzing on the host: random mutations of a valid binary only ever give ValueError.

Seeded (hypothesis derandomize) and small for ``make test``; ``make fuzz``
sets M2V_FUZZ to multiply the example counts (and the device cases of
tests/test_device_errors.py). The device side of the same idea is
tests/test_device_errors.py; tokenizer fuzzing against ``tokenizers`` is
tests/test_reference_tokens.py (host) and tests/test_device_parity.py
(device, seeded fuzz texts).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools import binfmt as bf
from host_tools import reference

SCALE = int(os.environ.get("M2V_FUZZ", "1"))


def _settings(n: int):
    return settings(max_examples=n * SCALE, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.fixture(scope="module")
def good(model_bin) -> bytes:
    return model_bin.read_bytes()


def fix_crc(b: bytearray) -> bytes:
    b[12:16] = struct.pack("<I", zlib.crc32(bytes(b[16:])) & 0xFFFFFFFF)
    return bytes(b)


def only_value_error(data: bytes) -> None:
    try:
        reference.Reference(data)
    except ValueError:
        pass


mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, 10**9)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, 10**9), st.binary(min_size=1, max_size=16))),
    st.tuples(st.just("delete"), st.tuples(st.integers(0, 10**9), st.integers(1, 64))),
)


def mutate(good: bytes, m) -> bytearray:
    kind, arg = m
    b = bytearray(good)
    if kind == "flip":
        for off, x in arg:
            b[off % len(b)] ^= x
    elif kind == "truncate":
        del b[arg % len(b) :]
    elif kind == "append":
        b += arg
    elif kind == "insert":
        off, data = arg
        b[off % len(b) : off % len(b)] = data
    else:
        off, n = arg
        del b[off % len(b) : off % len(b) + n]
    return b


def test_random_mutations_raise_value_error(good):
    """Any mutation, CRC left alone: ValueError (the CRC or the size check catches it)."""

    @_settings(60)
    @given(mutation)
    def check(m):
        b = mutate(good, m)
        if bytes(b) == good:
            return
        with pytest.raises(ValueError):
            reference.Reference(bytes(b))

    check()


def test_structural_mutations_with_valid_crc(good):
    """Header, section table and small sections damaged, CRC recomputed: load succeeds or raises ValueError only."""
    h, secs = bf.check(good)
    small = [(o, s) for sid, (o, s) in secs.items() if sid not in (bf.CENTROIDS, bf.RECORDS, bf.NODES)]
    spans = [(16, h.header_size - 16)] + small

    @_settings(12)
    @given(st.lists(st.tuples(st.integers(0, len(spans) - 1), st.integers(0, 10**9), st.integers(1, 255)),
                    min_size=1, max_size=4))  # fmt: skip
    def check(flips):
        b = bytearray(good)
        for i, k, x in flips:
            off, size = spans[i]
            b[off + k % size] ^= x
        only_value_error(fix_crc(b))

    check()


def test_header_fields_with_valid_crc(good):
    """Every header field set to an arbitrary value, CRC recomputed: ValueError or a successful load, nothing else."""
    names = [f.name for f in fields(bf.Header)][1:]  # not magic
    widths = dict(zip(names, "HHIIHHHHIIiHHIHBBBBBBBBBBBBHI"))

    @_settings(25)
    @given(st.sampled_from([n for n in names if n not in ("file_size", "crc32")]), st.integers(0, 2**32 - 1))
    def check(name, value):
        h = bf.unpack_header(good)
        lim = {"H": 16, "I": 32, "i": 32, "B": 8}[widths[name]]
        value %= 1 << lim
        if widths[name] == "i" and value >= 1 << 31:
            value -= 1 << 32
        setattr(h, name, value)
        if name == "version" and value != 1:
            with pytest.raises(ValueError, match="version"):
                reference.Reference(fix_crc(bytearray(bf.pack_header(h) + good[64:])))
            return
        only_value_error(fix_crc(bytearray(bf.pack_header(h) + good[64:])))

    check()
