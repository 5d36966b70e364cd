"""Checkpoint files: atomic writes, retention, optimiser round trips, and refusing bad files."""

import pytest
import torch

from toy_model import one_thread, use_toy
from zoo3d.errors import UserError
from zoo3d.launch import train_model
from zoo3d.train import checkpoint as ckpt


@pytest.fixture
def trained(monkeypatch, tmp_path):
    """A 3-step toy run (checkpoint at step 3)."""
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        train_model("toy", out=tmp_path / "run", steps=3, progress=False)
        yield tmp_path / "run"


def test_adam_state_round_trips_through_flat_tensors():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.0, 0.9))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    tensors, extra = ckpt.flatten_optimizer("G", opt)
    tensors = {k: v.clone() for k, v in tensors.items()}  # as if read back from a file
    assert all(k.startswith("optim.G.") for k in tensors)
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(net.state_dict())
    opt2 = torch.optim.Adam(twin.parameters(), lr=1.0)
    import json

    opt2.load_state_dict(ckpt.unflatten_optimizer("G", tensors, json.loads(json.dumps(extra))))
    assert opt2.param_groups[0]["lr"] == 1e-2 and opt2.param_groups[0]["betas"] == (0.0, 0.9)
    x = torch.randn(4, 3)
    for o, n in ((opt, net), (opt2, twin)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    assert torch.equal(net.weight, twin.weight)


def test_a_crash_during_a_checkpoint_write_keeps_the_previous_one(trained, monkeypatch):
    import safetensors.torch

    from zoo3d.runs import load_model

    real_save = safetensors.torch.save_file

    def crash_half_way(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as fh:  # the process dies with half the bytes on disk
            fh.truncate(fh.seek(0, 2) // 2)
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", crash_half_way)
    with pytest.raises(OSError):
        train_model("toy", out=trained, resume=True, progress=False)
    assert (trained / "latest").read_text().strip() == "checkpoints/step_000000003.safetensors"
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["step_000000003.safetensors"]
    monkeypatch.undo()
    use_toy(monkeypatch, trained.parent / "runs")
    assert load_model(str(trained)).step == 3


def test_retention_keeps_the_newest_checkpoints(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        train_model("toy", out=tmp_path / "run", overrides=["train.checkpoint_every=1", "train.keep_checkpoints=2"],
                    progress=False)
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step_000000005.safetensors", "step_000000006.safetensors"]
    assert ckpt.read_latest(tmp_path / "run").name == "step_000000006.safetensors"


def test_checkpoint_metadata_names_the_model_and_holds_the_config(trained):
    import json

    meta = ckpt.read_metadata(ckpt.read_latest(trained))
    assert meta["zoo3d.model"] == "toy" and meta["zoo3d.step"] == "3" and meta["zoo3d.stage"] == "main"
    assert json.loads(meta["zoo3d.config"])["toy"]["z_dim"] == 8
    from safetensors import safe_open

    with safe_open(str(ckpt.read_latest(trained)), "pt") as fh:
        prefixes = {k.split(".")[0] for k in fh.keys()}
    assert prefixes == {"generator", "ema", "modules", "optim", "rng"}


def _one_sentence(message: str) -> bool:
    return "\n" not in message and message.rstrip().endswith(".")


def test_truncated_checkpoint_gives_a_clear_error(trained, tmp_path):
    from zoo3d.runs import load_model

    data = ckpt.read_latest(trained).read_bytes()
    for cut in (len(data) // 2, 20):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(UserError, match="truncated") as err:
            load_model(str(bad))
        assert _one_sentence(str(err.value)) and str(bad) in str(err.value)


def test_pickle_files_are_refused_without_unpickling(trained, tmp_path):
    from zoo3d.runs import load_model

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("model.pt", "model.pkl", "disguised.safetensors"):
        path = tmp_path / name
        torch.save({"x": Evil()}, path) if name != "model.pkl" else path.write_bytes(__import__("pickle").dumps(Evil()))
        with pytest.raises(UserError, match="pickle") as err:
            load_model(str(path))
        assert _one_sentence(str(err.value))
    assert not marker.exists()


def test_a_checkpoint_of_another_model_is_refused(trained):
    from zoo3d.runs import load_model

    with pytest.raises(UserError, match="holds model 'toy', not 'toy_other'") as err:
        load_model(str(trained), model="toy_other")
    assert _one_sentence(str(err.value))
    with pytest.raises(UserError, match="run of model 'toy', not 'toy_other'"):
        train_model("toy_other", out=trained, resume=True, progress=False)


def test_a_checkpoint_that_does_not_fit_the_config_is_refused(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    from zoo3d.runs import load_model

    path = ckpt.read_latest(trained)
    meta = ckpt.read_metadata(path)
    tensors = {k: v for k, v in load_file(str(path)).items() if k != "generator.net.2.bias"}
    save_file(tensors, str(tmp_path / "edited.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="missing net.2.bias"):
        load_model(str(tmp_path / "edited.safetensors"))


def test_safetensors_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    import pickle

    from safetensors.torch import save_file

    from zoo3d.train.checkpoint import CheckpointError, check_checkpoint_file

    # Pad the metadata until the little-endian header length's first byte is 0x80 (a pickle PROTO opcode).
    for pad in range(256):
        path = tmp_path / "ok.safetensors"
        save_file({"x": torch.zeros(2)}, str(path), metadata={"pad": "p" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        raise AssertionError("no padding gave a 0x80 first byte")
    assert check_checkpoint_file(path) == path
    bad = tmp_path / "disguised.safetensors"
    bad.write_bytes(pickle.dumps({"x": 1}, protocol=4))
    with pytest.raises(CheckpointError, match="pickle"):
        check_checkpoint_file(bad)
