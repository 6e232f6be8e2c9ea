"""Shared fixtures for the host-side tests.

Ground truth is always the real ``tokenizers`` / ``model2vec`` packages,
loaded from local model directories (never a hub download). Conversions take
a few seconds each, so every converted model the tests need is built once per
session here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]  # on sys.path (pyproject.toml's pythonpath): host_tools, scripts
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model2vec must never reach a hub

# ------------------------------------------------------------- host tools
_FIGURES: list[str] = []


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its figures to the controller (``pytest_testnodedown``)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["m2v_figures"] = list(_FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the xdist controller: the figures of a worker that finished, listed with the others."""
    _FIGURES.extend(getattr(node, "workeroutput", {}).get("m2v_figures", []))


def pytest_terminal_summary(terminalreporter):
    """Print the figures the tests recorded (mismatch counts, cosines, sizes), with or without ``-s``.

    Under pytest-xdist (``make test``), every worker's figures, each worker's in the order recorded.
    """
    if _FIGURES:
        terminalreporter.section("m2v figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def report():
    """``report(name, value)``: print a figure and list it in the terminal summary."""

    def add(name: str, value) -> None:
        line = f"{name}: {value}"
        print(line)
        _FIGURES.append(line)

    return add


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return ROOT / "firmware_assets" / "potion-minilm-micro"


@pytest.fixture(scope="session")
def model_bin() -> Path:
    return ROOT / "firmware_assets" / "model.m2v"


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    path = ROOT / "tests" / "corpus" / "multilingual.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


@pytest.fixture(scope="session")
def ref(model_bin):
    from host_tools import reference

    return reference.load(model_bin)


@pytest.fixture(scope="session")
def m2v(model_dir):
    from model2vec import StaticModel

    return StaticModel.from_pretrained(model_dir)


def run_cli(*args, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m host_tools ARGS`` from the repository root."""
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "host_tools", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def cli():
    return run_cli


def _variant(src: Path, dst: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Copy the model directory ``src`` to ``dst`` with ``model.safetensors`` replaced by ``tensors``."""
    from safetensors.numpy import save_file

    shutil.copytree(src, dst)
    save_file(tensors, str(dst / "model.safetensors"))
    return dst


@pytest.fixture(scope="session")
def default_tensors(model_dir) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.fixture(scope="session")
def f16_model(tmp_path_factory, model_dir, default_tensors):
    """A float16 model2vec model, one row per token (no mapping), float32 weights; and its binary.

    Rows are the default model's int8 centroids expanded through its mapping,
    plus small seeded noise, so every token has a distinct float row and the
    converter's per-row int8 scales are exercised.
    """
    from host_tools.convert import convert

    rng = np.random.default_rng(20240601)
    t = default_tensors
    rows = t["embeddings"].astype(np.float32)[t["mapping"]]
    rows += rng.normal(0.0, 1.0, rows.shape).astype(np.float32)
    tensors = {"embeddings": rows.astype(np.float16), "weights": t["weights"].astype(np.float32)}
    d = _variant(model_dir, tmp_path_factory.mktemp("f16") / "model", tensors)
    out = d.parent / "model.m2v"
    convert(d, out)
    return d, out


@pytest.fixture(scope="session")
def weights_model(tmp_path_factory, model_dir, default_tensors):
    """The default model's shape with arbitrary per-token weights (seeded log-uniform in [1e-3, 1]); and its binary."""
    from host_tools.convert import convert

    rng = np.random.default_rng(7)
    t = dict(default_tensors)
    t["weights"] = np.exp(rng.uniform(np.log(1e-3), 0.0, t["weights"].shape))
    d = _variant(model_dir, tmp_path_factory.mktemp("weights") / "model", t)
    out = d.parent / "model.m2v"
    convert(d, out)
    return d, out


@pytest.fixture(scope="session")
def fresh_default_bytes(model_dir) -> bytes:
    """The default model converted again, in this process."""
    from host_tools.convert import convert_model
    from host_tools.modeldir import load

    return convert_model(load(model_dir))


@pytest.fixture(scope="session")
def cli_default_output(tmp_path_factory, model_dir):
    """``python -m host_tools convert`` of the default model in a subprocess with another hash seed."""
    out = tmp_path_factory.mktemp("cli") / "model.m2v"
    proc = run_cli("convert", model_dir, "-o", out, env_extra={"PYTHONHASHSEED": "12345"})
    return proc, out


# ------------------------------------------------------------- virtual board
@pytest.fixture
def board(tmp_path):
    """A fresh virtual board (scripts/vboard.py: the unix port on a pty): (port, its root folder)."""
    from scripts import vboard

    with vboard.VirtualBoard(tmp_path / "board", "256K") as b:
        yield b.port, b.dir
    assert vboard.running_pid(b.dir) is None
