"""The same run trained twice ends with the same checkpoint file, byte for byte (README: "a second training gave the
same checkpoint"), so its sha256, which ``compare`` records as the model's provenance, is the same too; a run of
another ``train.seed`` ends elsewhere."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from conftest import run_in_process
from toy_model import use_toy
from zoo3d.train import checkpoint as ckpt

pytestmark = pytest.mark.usefixtures("single_thread")

#: metadata with enough keys that a hash map's order is almost never the sorted one, and values JSON escapes
META = {f"zoo3d.key{i:02d}": f"value {i}" for i in range(16)}
META.update({"zoo3d.config": json.dumps({"data": {"spec": "/data/têtes \"v2\"\tß"}}), "zoo3d.model": "toy"})


def test_the_same_tensors_and_metadata_make_the_same_bytes_with_the_metadata_in_key_order(tmp_path):
    tensors = {"generator.w": torch.arange(6.0).reshape(2, 3), "rng.torch": torch.arange(5, dtype=torch.uint8)}
    paths = [ckpt.write_safetensors(tensors, dict(META), tmp_path / f"{i}.safetensors") for i in range(3)]
    first = paths[0].read_bytes()
    assert all(p.read_bytes() == first for p in paths[1:])
    size = int.from_bytes(first[:8], "little")
    header = json.loads(first[8:8 + size])
    assert list(header["__metadata__"]) == sorted(META)
    with safe_open(str(paths[0]), "pt") as f:  # still a file safetensors reads, with every value as written
        assert f.metadata() == META
        assert torch.equal(f.get_tensor("generator.w"), tensors["generator.w"])
        assert torch.equal(f.get_tensor("rng.torch"), tensors["rng.torch"])


def _train(capsys, out, *extra):
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "3", "--quiet", "--out", out, *extra)
    assert code == 0, err
    return out / "checkpoints" / ckpt.checkpoint_name(3)


def _generator(path):
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith("generator.")}


def test_a_run_trained_twice_gives_the_same_checkpoint_file_and_another_seed_other_weights(monkeypatch, tmp_path,
                                                                                           capsys):
    use_toy(monkeypatch, tmp_path / "runs")
    first = _train(capsys, tmp_path / "a")
    assert _train(capsys, tmp_path / "b").read_bytes() == first.read_bytes()
    weights, other = _generator(first), _generator(_train(capsys, tmp_path / "c", "--set", "train.seed=1"))
    assert weights.keys() == other.keys()
    assert not all(torch.equal(weights[k], other[k]) for k in weights)
