"""zoo3d's side of ``zoo3d bench peers``: the authors' side's file in, the same latents and cameras, the paper preset.

What the module's docstring promises: the networks start from the weights the authors' side wrote (the record's
``authors.safetensors``; without it the record is refused: the authors' side must run first), through the plugins'
``import_release``; the latents and (phi, theta) poses are the file's, the cameras GRAM's (origin on the unit sphere,
fov 12°, written out from GRAM-HD's ``sample_camera_positions``); the inference image is compared with the authors'
by its largest |difference|. The generator is a recording stand-in where the glue is under test, and GRAM's paper
generator where the import is.
"""

from __future__ import annotations

import hashlib
import math
import types

import pytest
import torch
from safetensors.torch import save_file

from zoo3d.benchmarks.peers import ours
from zoo3d.benchmarks.peers.records import Record, by_name

#: what GRAM-HD's stage 2 freezes of its stage-1 GRAM (the authors' GRAM-HD: everything but the feature heads)
FROZEN = ["lowres.manifold", "lowres.radiance_net.mapping", "lowres.radiance_net.trunk",
          "lowres.radiance_net.color_layer", "lowres.radiance_net.sigma_heads", "lowres.radiance_net.rgb_heads"]


def _poses(n):
    return torch.tensor([[math.pi / 2 - 0.1, math.pi / 2 + 0.25]]) + 0.05 * torch.arange(n * 2.0).reshape(n, 2)


def _file(folder, n, image=None):
    z = torch.linspace(-1, 1, n * 256).reshape(n, 256)
    tensors = {"weights.a.weight": torch.ones(2, 2), "inputs.z": z, "inputs.pose": _poses(n)}
    if image is not None:
        tensors["image"] = image
    save_file(tensors, str(folder / "authors.safetensors"))
    return tensors


class Stand(torch.nn.Module):
    """A generator that records its calls and renders ``w * mean(z)`` into every pixel."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(2.0))
        head = lambda: torch.nn.Linear(1, 1)  # noqa: E731
        self.lowres = torch.nn.ModuleDict({"manifold": head(), "radiance_net": torch.nn.ModuleDict(
            {k: head() for k in ("mapping", "trunk", "color_layer", "sigma_heads", "rgb_heads", "feature_heads")})})
        self.calls = []

    def forward(self, z, cams, resolution):
        self.calls.append(types.SimpleNamespace(z=z, cams=cams, resolution=resolution, training=self.training,
                                                grad=torch.is_grad_enabled()))
        h, w = resolution
        return types.SimpleNamespace(rgb=(self.w * z.mean(1))[:, None, None, None].expand(-1, 3, h, w))


@pytest.fixture
def stand(monkeypatch):
    g = Stand()
    handed = []
    monkeypatch.setattr(ours, "_imported", lambda record, tensors: handed.append((record, tensors)) or (g, None))
    g.handed = handed
    return g


def test_without_the_authors_file_the_record_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="authors.safetensors is missing: the authors' side of the record must "
                                           "run first"):
        ours.prepare(by_name("gram.inference.32"), tmp_path, torch.device("cpu"))


def test_the_weights_are_the_files_weights_entries_without_their_prefix():
    t = torch.zeros(1)
    assert ours._weights({"weights.representation.a": t, "inputs.z": t, "image": t, "weights.b.weights.c": t}) == {
        "representation.a": t, "b.weights.c": t}


def test_the_config_is_the_paper_preset_at_the_records_size():
    from zoo3d_gram.config import GramConfig
    from zoo3d_gram_hd.config import GramHDConfig

    cfg = ours._config(Record("gram.train_step.48", "gram", "train_step", 48, batch=6))
    paper = GramConfig()
    assert cfg.generator.resolution == 48 and cfg.stage("gram").batch_size == 6 and cfg.camera.fov == 12.0
    assert cfg.generator.radiance == paper.generator.radiance and cfg.generator.manifold == paper.generator.manifold
    hd = ours._config(Record("gram_hd.train_step.128", "gram_hd", "train_step", 128, batch=3))
    assert (hd.generator.resolution, hd.generator.lowres.resolution) == (128, 32)  # GRAM-HD's LR side: a quarter
    assert type(hd.generator.lowres.resolution) is int
    assert hd.stage("gram_hd.stage2").batch_size == 3 and hd.camera.fov == 12.0
    assert hd.generator.lowres.radiance == GramHDConfig().generator.lowres.radiance


def test_inference_renders_the_files_latents_from_grams_cameras_and_reports_the_largest_difference(stand, tmp_path):
    theirs = torch.full((2, 3, 8, 8), 0.25)
    theirs[1, 2, 5, 1] = -3.0
    tensors = _file(tmp_path, 2, theirs)
    work, compare = ours.prepare(Record("gram.inference.8", "gram", "inference", 8, batch=2), tmp_path,
                                 torch.device("cpu"))
    assert stand.handed[0][0].name == "gram.inference.8" and set(stand.handed[0][1]) == set(tensors)
    image = work()
    (call,) = stand.calls
    assert call.training is False and call.grad is False and call.resolution == (8, 8)
    assert torch.equal(call.z, tensors["inputs.z"])
    phi, theta = tensors["inputs.pose"][:, 0], tensors["inputs.pose"][:, 1]
    origin = torch.stack([torch.sin(phi) * torch.cos(theta), torch.cos(phi), torch.sin(phi) * torch.sin(theta)], -1)
    assert torch.allclose(call.cams.origins, origin, atol=1e-6)  # GRAM's camera on the unit sphere
    focal = 0.5 / math.tan(math.radians(12.0) / 2)  # GRAM's fov 12°, in image widths
    assert torch.allclose(call.cams.intrinsics[:, 0, 0], torch.full((2,), focal), rtol=1e-5)
    expected = 2.0 * tensors["inputs.z"].mean(1)
    assert torch.allclose(image[:, 0, 0, 0], expected)
    diff = max(float((expected[0] - 0.25).abs()), float((expected[1] - 0.25).abs()), float((expected[1] + 3).abs()))
    assert compare(image)["image_max_abs_diff"] == pytest.approx(diff, rel=1e-6)


def test_the_graph_record_renders_with_autograd(stand, tmp_path):
    _file(tmp_path, 1)
    work, finish = ours.prepare(by_name("gram.graph.64"), tmp_path, torch.device("cpu"))
    with torch.no_grad():
        image = work()
    assert stand.calls[0].grad is True and image.requires_grad and stand.calls[0].resolution == (64, 64)
    pose = _poses(1)
    assert torch.allclose(stand.calls[0].cams.origins[:, 1], torch.cos(pose[:, 0]), atol=1e-6)
    assert finish(image) == {}


def test_forward_backward_accumulates_each_sub_batch_means_gradient(stand, tmp_path):
    tensors = _file(tmp_path, 4)
    work, finish = ours.prepare(Record("gram.forward_backward.4", "gram", "forward_backward", 4, batch=4, split=2),
                                tmp_path, torch.device("cpu"))
    assert work() is None and finish(None) == {}
    z = tensors["inputs.z"]
    assert [c.z.shape[0] for c in stand.calls] == [2, 2]
    assert torch.equal(stand.calls[0].z, z[:2]) and torch.equal(stand.calls[1].z, z[2:])
    assert torch.allclose(stand.calls[1].cams.origins[:, 1], torch.cos(tensors["inputs.pose"][2:, 0]), atol=1e-6)
    # d/dw of mean(w * mean(z_0:2)) + mean(w * mean(z_2:4)) = the two sub-batch means summed
    assert float(stand.w.grad) == pytest.approx(float(z[:2].mean() + z[2:].mean()), abs=1e-6)


def test_gram_hd_trains_only_what_the_authors_stage_2_trains(stand, tmp_path):
    _file(tmp_path, 1)
    assert all(p.requires_grad for p in stand.parameters())  # before: everything trains
    ours.prepare(by_name("gram_hd.graph.64"), tmp_path, torch.device("cpu"))
    for name in FROZEN:
        assert not any(p.requires_grad for p in stand.get_submodule(name).parameters()), name
    assert all(p.requires_grad for p in stand.lowres.radiance_net.feature_heads.parameters())
    assert stand.w.requires_grad
    stand.requires_grad_(True)
    ours.prepare(by_name("gram.graph.64"), tmp_path, torch.device("cpu"))
    assert all(p.requires_grad for p in stand.parameters())  # GRAM's record freezes nothing


def test_an_unknown_work_is_refused(stand, tmp_path):
    _file(tmp_path, 1)
    with pytest.raises(ValueError, match="unknown work 'bake'"):
        ours.prepare(Record("gram.bake.8", "gram", "bake", 8), tmp_path, torch.device("cpu"))


def test_neus_records_are_the_neus_modules(monkeypatch, tmp_path):
    import zoo3d.benchmarks.peers.neus as neus_module

    handed = []
    monkeypatch.setattr(neus_module, "prepare_zoo3d", lambda *a: handed.append(a) or "neus")
    assert ours.prepare(by_name("neus.steps.32"), tmp_path, torch.device("cpu")) == "neus"
    assert handed == [(by_name("neus.steps.32"), tmp_path, torch.device("cpu"))]


def _paper_state(seed=0):
    """The authors' GRAM FFHQ generator state dict (their names and shapes) with random values, as the file holds it."""
    from zoo3d_gram.config import GramConfig
    from zoo3d_gram.upstream import upstream_parameter_names

    g = torch.Generator().manual_seed(seed)
    return {f"weights.{name}": torch.randn(shape, generator=g)
            for name, shape in upstream_parameter_names(GramConfig().generator)}


def _contents(tensors):
    """Each tensor as (shape, a hash of its bytes), sorted: equal when the same tensors are there, in any order and
    under any names (a sum would miss a square matrix transposed or values moved within a tensor)."""
    return sorted((tuple(t.shape), hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest())
                  for t in tensors)


def test_a_training_step_is_the_engines_step_of_the_last_stage_from_the_authors_weights_on_a_fixed_batch(
        monkeypatch, tmp_path):
    from zoo3d.train.engine import Trainer

    state = _paper_state()
    save_file({**state, "inputs.z": torch.zeros(2, 256), "inputs.pose": _poses(2)},
              str(tmp_path / "authors.safetensors"))
    steps, entered = [], []
    monkeypatch.setattr(Trainer, "bench_step", lambda self, stage: steps.append((self, stage, self._real_batch(stage))))
    real_enter = Trainer.enter_stage
    monkeypatch.setattr(Trainer, "enter_stage", lambda self, stage: entered.append(stage) or real_enter(self, stage))
    record = Record("gram.train_step.8", "gram", "train_step", 8, batch=2, split=2)
    work, finish = ours.prepare(record, tmp_path, torch.device("cpu"))
    assert steps == []
    work()
    work()
    (trainer, stage, real), (again, stage2, real2) = steps
    assert again is trainer and stage2 is stage and entered == [stage] and stage is trainer.stages[-1]
    assert trainer.config.train.sample_every == 0 and trainer.config.train.checkpoint_every == 0
    assert trainer.config.generator.resolution == 8 and stage.batch_size == 2
    generator = trainer.modules["generator"]
    assert _contents(generator.parameters()) == _contents(state.values())  # the authors' weights, unchanged
    for p, e in zip(generator.parameters(), trainer.ema.parameters()):
        assert torch.equal(p, e)  # the EMA starts from them
    expected = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert torch.equal(real.images, expected) and torch.equal(real2.images, expected)
    assert real.images is not real2.images  # a fresh copy for every step
    phi, theta = _poses(2)[:, 0], _poses(2)[:, 1]
    origin = torch.stack([torch.sin(phi) * torch.cos(theta), torch.cos(phi), torch.sin(phi) * torch.sin(theta)], -1)
    assert torch.allclose(real.cameras.origins, origin, atol=1e-6)
    assert finish(None) == {}


def test_the_authors_weights_land_in_grams_paper_generator_unchanged(tmp_path):
    """The authors' state dict (their names and shapes for the paper network) through ``import_release``: every
    tensor is one of the generator's, unchanged (GRAM's conversion renames, never transforms)."""
    from zoo3d_gram.config import GramConfig
    from zoo3d_gram.upstream import upstream_parameter_names

    g = torch.Generator().manual_seed(0)
    state = {f"weights.{name}": torch.randn(shape, generator=g)
             for name, shape in upstream_parameter_names(GramConfig().generator)}
    generator, config = ours._imported(Record("gram.inference.16", "gram", "inference", 16), state)
    assert config.generator.resolution == 16
    assert _contents(generator.parameters()) == _contents(state.values())
