"""`python -m host_tools convert ORG/NAME`: the model from the Hugging Face cache, offline, byte-identical."""

from __future__ import annotations

import pytest
from hubcache import REPO_ID, make_cache


@pytest.fixture(scope="module")
def hf_env(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("hf"))


def test_convert_hub_id_from_cache(cli, hf_env, cli_default_output, tmp_path):
    out = tmp_path / "hub.m2v"
    proc = cli("convert", REPO_ID, "-o", out, env_extra=hf_env)
    assert proc.returncode == 0, proc.stderr
    assert f"{REPO_ID}: {hf_env['HF_HUB_CACHE']}/models--" in proc.stderr  # read from the cache
    folder_proc, folder_out = cli_default_output  # the same model converted from its folder
    assert folder_proc.returncode == 0, folder_proc.stderr
    assert out.read_bytes() == folder_out.read_bytes()


@pytest.mark.parametrize("name", ["m2v-test/not-cached", "m2v-test/potion-minilm-micro-missing"])
def test_hub_id_not_cached_offline(cli, hf_env, tmp_path, name):
    out = tmp_path / "out.m2v"
    out.write_bytes(b"previous")
    proc = cli("convert", name, "-o", out, env_extra=hf_env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: {name}: not a local folder, and not in the Hugging Face cache {hf_env['HF_HUB_CACHE']}"
                     " (HF_HUB_OFFLINE is set: unset it to download)"], proc.stderr  # fmt: skip
    assert out.read_bytes() == b"previous"


def test_neither_folder_nor_hub_id(cli, hf_env, tmp_path):
    proc = cli("convert", tmp_path / "no" / "such" / "folder", "-o", tmp_path / "o.m2v", env_extra=hf_env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'no' / 'such' / 'folder'}: not a directory"]
