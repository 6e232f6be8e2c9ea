"""`make flash PORT=...` as a user types it: no ARCH (the board's own is read), MODEL a hub id; ROMFS order."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

from hubcache import REPO_ID, make_cache
from mpy import MODEL

from scripts import flash

ROOT = Path(__file__).resolve().parent.parent

VENV = Path(sys.executable).parent.parent


def make(*args: str, env_extra: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`make ARGS` in the repository with this interpreter's venv, never rebuilding it."""
    env = {**os.environ, **(env_extra or {})}
    cmd = ["make", "-s", f"VENV={VENV}", "-o", f"{VENV}/.stamp", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def own_lines(p: subprocess.CompletedProcess) -> list[str]:
    """stderr without make's own "make: *** ... Error N" (make exits 2 whenever a recipe fails)."""
    return [ln for ln in p.stderr.strip().splitlines() if not ln.startswith("make")]


def test_make_flash_no_arch_hub_model(board, tmp_path):
    """The board says x64 (sys.implementation._mpy); the hub id is converted from the offline cache."""
    port, d = board
    env = make_cache(tmp_path / "hf")
    p = make("flash", f"PORT={port}", f"MODEL={REPO_ID}", env_extra=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "--arch" not in out
    assert "board: x64 native code, .mpy 6.3; installing the x64 build" in out
    assert "smoke: matches host_tools.reference bit for bit" in out
    # the hub model converts to the same bytes as the committed default model (converted from its folder)
    assert (d / "model.m2v").read_bytes() == MODEL.read_bytes()
    # every module compiled, and the x64 build of the C core (firmware_assets/native)
    want = sorted([p.stem + ".mpy" for p in (ROOT / "device" / "m2v").glob("*.py")] + ["_native.mpy"])
    assert sorted(p.name for p in (d / "lib" / "m2v").iterdir()) == want


def test_make_flash_refuses_foreign_arch(board):
    port, d = board
    p = make("flash", f"PORT={port}", "ARCH=armv6m")
    assert p.returncode != 0
    assert own_lines(p) == [
        "flash: the board runs x64 native code (sys.implementation._mpy = 0xb06) and would refuse armv6m .mpy"
        " files: leave ARCH unset (it picks x64) or pass ARCH=x64"
    ]
    assert not (d / "lib").exists() and not (d / "model.m2v").exists()  # nothing was copied


def test_make_flash_hub_model_offline_not_cached(board, tmp_path):
    port, d = board
    env = make_cache(tmp_path / "hf")
    p = make("flash", f"PORT={port}", "MODEL=m2v-test/not-cached", env_extra=env)
    assert p.returncode != 0
    assert own_lines(p) == [
        f"flash: error: m2v-test/not-cached: not a local folder, and not in the Hugging Face cache"
        f" {env['HF_HUB_CACHE']} (HF_HUB_OFFLINE is set: unset it to download)"
    ]
    assert not (d / "model.m2v").exists()


def test_romfs_deploy_soft_resets_before_verifying(monkeypatch, tmp_path):
    """No board here implements vfs.rom_ioctl writes: the order of the steps is checked with mpremote recorded."""
    calls = []
    data = MODEL.read_bytes()

    def fake_mpremote(port, *args, timeout=300, check=True):
        calls.append(args[:2] if args[0] == "romfs" else args[:1])
        return ""

    def fake_board_json(port, code, timeout=300):
        calls.append(("verify", "/rom/model.m2v" in code))
        return [len(data), zlib.crc32(data)]

    monkeypatch.setattr(flash, "mpremote", fake_mpremote)
    monkeypatch.setattr(flash, "board_json", fake_board_json)
    flash.install_model_romfs("PORT", MODEL, log=lambda s: None)
    assert calls == [("romfs", "deploy"), ("soft-reset",), ("verify", True)]
