"""The authors' side of ``zoo3d bench peers`` against a stand-in checkout of microsoft/GRAM and JeffreyXiang/GRAM-HD.

The stand-in checkout has the layout the module imports (``configs``, ``generators/generators.py``,
``discriminators/discriminators.py``, ``processes/processes.py``) with tiny classes that record how they are built
and called. The answers: GRAM's FFHQ camera and GRAM-HD's camera origin (``sample_camera_positions``) written out,
the inputs and the weight perturbation recomputed from their seeds, gradients accumulated by hand, and the
refusal worded as the module's docstring and docs/testing.md say (a model whose checkout is not named is skipped).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
import types

import pytest
import torch

from zoo3d.benchmarks.peers import authors
from zoo3d.benchmarks.peers.records import Record, by_name

STANDIN = {
    "configs.py": """
        FFHQ_default = {
            'optimizer': {'gen_lr': 2e-5, 'disc_lr': 2e-4, 'betas': (0, 0.9), 'grad_clip': 1.},
            'process': {'class': 'Gan3DProcess', 'kwargs': {'batch_split': 8, 'r1_lambda': 1.}},
            'generator': {'class': 'GramGenerator', 'kwargs': {'z_dim': 256, 'img_size': 256},
                          'representation': {'kwargs': {'hidden_dim': 7}}, 'renderer': {'kwargs': {'num_samples': 5}}},
            'discriminator': {'class': 'GramDiscriminator', 'kwargs': {'img_size': 256, 'width': 7}},
            'camera': {'fov': 30, 'ray_start': 0.5, 'ray_end': 1.5},
        }
        GRAMHD256_FFHQ = {
            'optimizer': {'gen_lr': 1e-4, 'disc_lr': 3e-4, 'betas': (0, 0.99), 'grad_clip': 1.},
            'process': {'class': 'SRGan3DProcess', 'kwargs': {'batch_split': 8}},
            'generator': {'class': 'GramHDGenerator', 'kwargs': {'z_dim': 256, 'img_size': 256, 'lr_img_size': 64},
                          'representation': {'kwargs': {'hidden_dim': 7}}, 'renderer': {'kwargs': {'num_samples': 5}},
                          'super_resolution': {'kwargs': {'blocks': 3}}},
            'discriminator': {'class': 'GramHDDiscriminator', 'kwargs': {'img_size': 256, 'width': 7}},
            'camera': {'fov': 30, 'ray_start': 0.5, 'ray_end': 1.5},
        }
    """,
    "generators/__init__.py": "",
    "generators/generators.py": """
        import torch

        BUILT, CALLS, INSTANCES = [], [], []

        class GramGenerator(torch.nn.Module):
            def __init__(self, representation_kwargs, renderer_kwargs, **kwargs):
                super().__init__()
                BUILT.append(dict(representation_kwargs=representation_kwargs, renderer_kwargs=renderer_kwargs,
                                  **kwargs))
                self.lin = torch.nn.Linear(258, 3)
                self.img_size = kwargs['img_size']
                INSTANCES.append(self)

            def forward(self, z, fov, ray_start, ray_end, img_size=None, camera_pos=None):
                CALLS.append(dict(z=z, pose=camera_pos, camera=(fov, ray_start, ray_end), img_size=img_size,
                                  training=self.training, grad=torch.is_grad_enabled()))
                rgb = self.lin(torch.cat([z, camera_pos], dim=1))
                return rgb[:, :, None, None].expand(-1, -1, img_size, img_size), None

        class GramHDGenerator(torch.nn.Module):
            def __init__(self, representation_kwargs, super_resolution_kwargs, renderer_kwargs, **kwargs):
                super().__init__()
                BUILT.append(dict(representation_kwargs=representation_kwargs, renderer_kwargs=renderer_kwargs,
                                  super_resolution_kwargs=super_resolution_kwargs, **kwargs))
                self.lin = torch.nn.Linear(258, 3)
                self.img_size, self.lr_img_size = kwargs['img_size'], kwargs['lr_img_size']

            def forward(self, z, fov, ray_start, ray_end, camera_origin=None, camera_pos=None):
                CALLS.append(dict(z=z, pose=camera_pos, camera=(fov, ray_start, ray_end), origin=camera_origin,
                                  training=self.training, grad=torch.is_grad_enabled()))
                rgb = self.lin(torch.cat([z, camera_pos], dim=1))[:, :, None, None]
                hr = rgb.expand(-1, -1, self.img_size, self.img_size)
                lr = rgb.expand(-1, -1, self.lr_img_size, self.lr_img_size)
                return (hr, lr, None, None), None
    """,
    "discriminators/__init__.py": "",
    "discriminators/discriminators.py": """
        import torch

        class GramDiscriminator(torch.nn.Module):
            def __init__(self, img_size, width):
                super().__init__()
                self.img_size, self.width = img_size, width
                self.lin = torch.nn.Linear(3, 1)

        GramHDDiscriminator = GramDiscriminator
    """,
    "processes/__init__.py": "",
    "processes/processes.py": """
        STEPS = []

        class Gan3DProcess:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

            def train_D(self, real, real_pose, G_ddp, D_ddp, opt_D, scaler, cfg, device):
                STEPS.append(('D', dict(real=real, real_pose=real_pose, G=G_ddp, D=D_ddp, opt=opt_D, scaler=scaler,
                                        cfg=cfg, device=device, process=self)))

            def train_G(self, real, G_ddp, ema, ema2, D_ddp, opt_G, scaler, cfg, device):
                STEPS.append(('G', dict(real=real, G=G_ddp, ema=ema, ema2=ema2, D=D_ddp, opt=opt_G, scaler=scaler,
                                        cfg=cfg, device=device, process=self)))

        SRGan3DProcess = Gan3DProcess
    """,
}

#: GRAM's FFHQ camera (configs.py, FFHQ_default['camera']): what every record renders with
GRAM_FFHQ_CAMERA = (12, 0.88, 1.12)


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """The stand-in checkout, named by both GRAM variables; its modules are forgotten afterwards."""
    root = tmp_path / "upstream"
    for name, text in STANDIN.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", str(root))
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM_HD", str(root))
    monkeypatch.setattr(sys, "path", list(sys.path))
    names = ("configs", "generators", "discriminators", "processes")
    for name in [m for m in sys.modules if m.split(".")[0] in names]:
        monkeypatch.delitem(sys.modules, name)
    yield root
    for name in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[name]


def _inputs(batch):
    """Latents and (phi, theta) poses from seed 1: a N(0, 1) draw of (batch, 256), then the poses 0.05 around
    (pi/2 - 0.1, pi/2 + 0.25) from the same stream."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(batch, 256, generator=g)
    pose = torch.tensor([[math.pi / 2 - 0.1, math.pi / 2 + 0.25]]) + 0.05 * torch.randn(batch, 2, generator=g)
    return z, pose


def _perturbed(module):
    """``module``'s parameters plus N(0, 1) noise from seed 1 times 0.1 x each tensor's spread (0.05 for a tensor of
    one value or none)."""
    g = torch.Generator().manual_seed(1)
    out = {}
    for name, p in module.named_parameters():
        spread = float(p.detach().std()) if p.numel() > 1 else 0.0
        out[name] = p.detach() + torch.randn(p.shape, generator=g) * 0.1 * (spread if spread > 0 else 0.5)
    return out


def _their_generator(checkout, cls):
    """The stand-in generator as the authors' code builds it: seed 0 before construction."""
    sys.path.insert(0, str(checkout))
    from generators import generators

    torch.manual_seed(0)
    kwargs = dict(representation_kwargs={}, renderer_kwargs={}, img_size=8)
    if cls == "GramHDGenerator":
        kwargs.update(super_resolution_kwargs={}, lr_img_size=2)
    return getattr(generators, cls)(**kwargs), generators


# ---------------------------------------------------------------------------------------------------- checkouts


def test_a_checkout_is_a_folder_the_environment_names(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM", raising=False)
    assert authors.checkout("gram") is None
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", "")
    assert authors.checkout("gram") is None
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", str(tmp_path / "file"))
    assert authors.checkout("gram") is None
    monkeypatch.setenv("ZOO3D_UPSTREAM_NEUS", str(tmp_path))
    assert authors.checkout("neus") == tmp_path
    assert authors.ENV == {"gram": "ZOO3D_UPSTREAM_GRAM", "gram_hd": "ZOO3D_UPSTREAM_GRAM_HD",
                           "neus": "ZOO3D_UPSTREAM_NEUS"}  # docs/testing.md's variables


def test_a_record_whose_checkout_is_missing_is_refused_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM_HD", raising=False)
    with pytest.raises(RuntimeError, match="^ZOO3D_UPSTREAM_GRAM_HD does not name a checkout$"):
        authors.prepare(by_name("gram_hd.inference.64"), tmp_path, torch.device("cpu"))


def test_the_commit_is_the_commit_files_first_word_else_gits_head_else_unknown(tmp_path):
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / "COMMIT").write_text("0123abcd  microsoft/GRAM as of 2022\n")
    assert authors.commit(marked) == "0123abcd"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert authors.commit(plain) == "unknown"
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    # the user's own git settings left out: no signing, no hooks
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false",
           "-c", "core.hooksPath=/dev/null"]
    subprocess.run(git + ["init", "-q"], check=True)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run(git + ["add", "a.py"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "a"], check=True)
    head = subprocess.run(git + ["log", "-1", "--format=%H"], capture_output=True, text=True).stdout.strip()
    assert len(head) == 40 and authors.commit(repo) == head


# ---------------------------------------------------------------------------------------------- pieces


def test_inputs_are_the_seeded_latents_and_poses_around_the_records_pose():
    z, pose = authors.inputs(3)
    z_ref, pose_ref = _inputs(3)
    assert torch.equal(z, z_ref) and torch.allclose(pose, pose_ref, atol=1e-7, rtol=0)


def test_weights_are_perturbed_by_a_tenth_of_each_tensors_spread():
    torch.manual_seed(3)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    with torch.no_grad():
        module[0].bias.fill_(0.25)  # constant: its spread is 0, so 0.5 stands in
    expected = _perturbed(module)
    authors.perturb_(module)
    for name, p in module.named_parameters():
        assert torch.allclose(p, expected[name], atol=1e-7, rtol=0), name
    assert float((module[0].bias.detach() - 0.25).abs().max()) > 1e-3  # the constant bias took generic values
    assert float((module[2].bias.detach() - expected["2.bias"]).abs().max()) < 1e-7  # one value: 0.5 x scale


def test_the_ema_stand_in_is_torch_emas_update_with_its_decay_ramp_and_leaves_frozen_ones_out():
    """torch_ema (use_num_updates, its default): the n-th update uses d = min(decay, (1 + n) / (10 + n)) and sets
    shadow = d shadow + (1 - d) param. With decay 0.2 the first update is ramped (2/11 < 0.2), the second capped."""
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    frozen = torch.nn.Parameter(torch.tensor([5.0]), requires_grad=False)
    b = torch.nn.Parameter(torch.tensor([[-1.0]]))
    ema = authors._Ema([a, frozen, b], decay=0.2)
    assert ema.decay == 0.2 and len(ema.shadow) == 2
    with torch.no_grad():
        a.copy_(torch.tensor([3.0, 0.0]))
        b.fill_(1.0)
    ema.update([a, frozen, b])
    d1 = 2 / 11
    first = [d1 * 1.0 + (1 - d1) * 3.0, d1 * 2.0]
    assert torch.allclose(ema.shadow[0], torch.tensor(first))
    assert torch.allclose(ema.shadow[1], torch.tensor([[d1 * -1.0 + (1 - d1) * 1.0]]))
    ema.update([a, frozen, b])
    d2 = 0.2  # min(0.2, 3/12)
    assert torch.allclose(ema.shadow[0], torch.tensor([d2 * first[0] + (1 - d2) * 3.0, d2 * first[1]]))
    assert torch.equal(a, torch.tensor([3.0, 0.0]))  # the parameters are left alone


def test_torch_ema_when_installed_is_their_ema(monkeypatch):
    made = []
    module = types.ModuleType("torch_ema")
    module.ExponentialMovingAverage = lambda parameters, decay: made.append((list(parameters), decay)) or "ema"
    monkeypatch.setitem(sys.modules, "torch_ema", module)
    p = torch.nn.Parameter(torch.zeros(2))
    assert authors._ema(iter([p]), 0.999) == "ema" and made == [([p], 0.999)]
    monkeypatch.setitem(sys.modules, "torch_ema", None)  # not installed: the stand-in, same decay
    ema = authors._ema(iter([p]), 0.9999)
    assert isinstance(ema, authors._Ema) and ema.decay == 0.9999 and torch.equal(ema.shadow[0], p.detach())


def test_neus_records_are_the_neus_modules_and_the_checkouts_modules_come_first(checkout, monkeypatch, tmp_path):
    import zoo3d.benchmarks.peers.neus as neus_module

    handed = []
    monkeypatch.setattr(neus_module, "prepare_authors", lambda *a: handed.append(a) or "neus")
    assert authors.prepare(by_name("neus.fit.32"), tmp_path, torch.device("cpu")) == "neus"
    assert handed == [(by_name("neus.fit.32"), tmp_path, torch.device("cpu"))]
    decoy = tmp_path / "decoy"  # a configs module already on the path does not shadow theirs
    decoy.mkdir()
    (decoy / "configs.py").write_text("FFHQ_default = None\n")
    monkeypatch.setattr(sys, "path", [str(decoy)] + sys.path)
    configs, *_ = authors._import(checkout)
    assert configs.FFHQ_default["camera"]["fov"] == 30


def test_the_replica_hands_over_the_module_and_its_forward():
    lin = torch.nn.Linear(2, 1)
    replica = authors._Replica(lin)
    x = torch.tensor([[1.0, -2.0]])
    assert replica.module is lin and torch.equal(replica(x), lin(x))
    assert torch.equal(replica(input=x), lin(x))


@pytest.mark.parametrize("phi, theta", [(math.pi / 2, math.pi / 2), (1.2, 2.1), (0.3, -0.7)])
def test_the_camera_origin_is_gram_hds_point_on_the_unit_sphere(phi, theta):
    # GRAM-HD's sample_camera_positions: x = r sin(phi) cos(theta), y = r cos(phi), z = r sin(phi) sin(theta)
    expected = [math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)]
    assert authors._origin(torch.tensor([phi, theta])) == pytest.approx(expected, abs=1e-7)


# -------------------------------------------------------------------------------------------- the records


def test_gram_inference_renders_the_inputs_with_gram_ffhq_camera_in_eval_without_a_graph(checkout, tmp_path):
    from safetensors.torch import load_file

    record = by_name("gram.inference.32")
    folder = tmp_path / "records" / "gram.inference.32"  # made with its parents when the file is written
    work, finish = authors.prepare(record, folder, torch.device("cpu"))
    from generators.generators import BUILT, CALLS

    (built,) = BUILT
    assert built["img_size"] == 32 and built["z_dim"] == 256
    assert built["representation_kwargs"] == {"hidden_dim": 7} and built["renderer_kwargs"] == {"num_samples": 5}
    image = work()
    (call,) = CALLS
    z, pose = _inputs(1)
    assert call["camera"] == GRAM_FFHQ_CAMERA and call["img_size"] == 32
    assert call["training"] is False and call["grad"] is False
    assert torch.equal(call["z"], z) and torch.allclose(call["pose"], pose, atol=1e-7, rtol=0)
    ref, _ = _their_generator(checkout, "GramGenerator")
    weights = _perturbed(ref)
    expected = (torch.cat([z, pose], 1) @ weights["lin.weight"].T + weights["lin.bias"])[:, :, None, None]
    assert image.shape == (1, 3, 32, 32) and torch.allclose(image, expected.expand(1, 3, 32, 32), atol=1e-5)
    assert not folder.exists()  # written with the image, after the work
    assert finish(image) == {}
    saved = load_file(str(folder / "authors.safetensors"))
    assert set(saved) == {"weights.lin.weight", "weights.lin.bias", "inputs.z", "inputs.pose", "image"}
    assert torch.allclose(saved["weights.lin.weight"], weights["lin.weight"], atol=1e-7, rtol=0)
    assert torch.equal(saved["inputs.z"], z) and torch.equal(saved["image"], image)
    assert torch.allclose(saved["inputs.pose"], pose, atol=1e-7, rtol=0)


def test_gram_hd_renders_at_a_quarter_for_its_lr_image_from_the_poses_origin(checkout, tmp_path):
    record = by_name("gram_hd.inference.64")
    work, _ = authors.prepare(record, tmp_path, torch.device("cpu"))
    from generators.generators import BUILT, CALLS

    (built,) = BUILT
    assert (built["img_size"], built["lr_img_size"]) == (64, 16)
    assert built["super_resolution_kwargs"] == {"blocks": 3}
    assert built["representation_kwargs"] == {"hidden_dim": 7} and built["renderer_kwargs"] == {"num_samples": 5}
    image = work()
    (call,) = CALLS
    _, pose = _inputs(1)
    phi, theta = float(pose[0, 0]), float(pose[0, 1])
    assert call["camera"] == GRAM_FFHQ_CAMERA and call["training"] is False
    assert call["origin"] == pytest.approx([math.sin(phi) * math.cos(theta), math.cos(phi),
                                            math.sin(phi) * math.sin(theta)], abs=1e-6)
    assert image.shape == (1, 3, 64, 64)  # the HR image, not the LR one


def test_the_graph_record_renders_with_autograd_after_writing_the_weights(checkout, tmp_path):
    from safetensors.torch import load_file

    work, finish = authors.prepare(by_name("gram_hd.graph.64"), tmp_path, torch.device("cpu"))
    saved = load_file(str(tmp_path / "authors.safetensors"))  # written before the work, for zoo3d's side
    assert "image" not in saved and "weights.lin.weight" in saved
    with torch.no_grad():
        image = work()
    from generators.generators import CALLS

    assert CALLS[-1]["grad"] is True and image.requires_grad and finish(image) == {}


def test_forward_backward_accumulates_the_gradients_of_each_sub_batch_mean(checkout, tmp_path):
    record = by_name("gram.forward_backward.16")  # batch 4 in 4 sub-batches
    work, finish = authors.prepare(record, tmp_path, torch.device("cpu"))
    from generators.generators import CALLS

    assert work() is None and finish(None) == {}
    z, pose = _inputs(4)
    assert [c["z"].shape[0] for c in CALLS] == [1, 1, 1, 1]
    assert all(torch.equal(c["z"], z[i:i + 1]) for i, c in enumerate(CALLS))
    ref, _ = _their_generator(checkout, "GramGenerator")
    weights = _perturbed(ref)
    w = weights["lin.weight"].clone().requires_grad_(True)
    b = weights["lin.bias"].clone().requires_grad_(True)
    x = torch.cat([z, pose], 1)
    total = sum((x[i:i + 1] @ w.T + b).mean() for i in range(4))  # each sub-image's mean = its pixel's mean
    total.backward()
    from generators.generators import INSTANCES

    lin = INSTANCES[0].lin  # the record's generator (the reference was built after it)
    assert torch.allclose(lin.weight.grad, w.grad, atol=1e-6) and torch.allclose(lin.bias.grad, b.grad, atol=1e-6)


def test_a_training_step_is_their_d_then_g_phase_with_their_optimisers_and_two_emas(checkout, tmp_path, monkeypatch):
    record = by_name("gram.train_step.16")  # batch 4, their batch_split 4
    scalers = []
    real_scaler = torch.amp.GradScaler
    monkeypatch.setattr(torch.amp, "GradScaler", lambda *a, **k: scalers.append((a, k)) or real_scaler(*a, **k))
    work, finish = authors.prepare(record, tmp_path, torch.device("cpu"))
    from processes.processes import STEPS

    assert STEPS == []
    work()
    work()
    assert [phase for phase, _ in STEPS] == ["D", "G", "D", "G"]
    d, g = STEPS[0][1], STEPS[1][1]
    assert d["process"].kwargs == {"batch_split": 4, "r1_lambda": 1.0}  # the record's split over their 8
    G, D = d["G"].module, d["D"].module
    assert g["G"].module is G and g["D"].module is D and (D.img_size, D.width) == (16, 7)
    assert g["device"] == torch.device("cpu") and g["scaler"] is d["scaler"] and g["cfg"] is d["cfg"]
    assert scalers == [(("cuda",), {"enabled": False})]  # their torch.cuda.amp scaler, off on CPU
    assert d["cfg"]["camera"] == {"fov": 12.0, "ray_start": 0.88, "ray_end": 1.12}
    assert d["device"] == torch.device("cpu")
    for opt, params, lr in ((d["opt"], list(D.parameters()), 2e-4), (g["opt"], list(G.parameters()), 2e-5)):
        assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["params"] == params
        assert opt.param_groups[0]["lr"] == lr and opt.param_groups[0]["betas"] == (0.0, 0.9)
        assert all(isinstance(b, float) for b in opt.param_groups[0]["betas"])
    assert (g["ema"].decay, g["ema2"].decay) == (0.999, 0.9999)
    assert d["scaler"].is_enabled() is False  # on CPU their autocast and GradScaler are off
    gen = torch.Generator().manual_seed(2)
    real = torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1
    _, pose = _inputs(4)
    assert torch.equal(d["real"], real) and torch.equal(g["real"], real)
    assert d["real"] is not g["real"] and STEPS[2][1]["real"] is not d["real"]  # a fresh copy for every phase
    assert torch.allclose(d["real_pose"], pose, atol=1e-7, rtol=0)
    assert finish(None) == {}


def test_an_unknown_work_is_refused(checkout, tmp_path):
    with pytest.raises(ValueError, match="unknown work 'bake'"):
        authors.prepare(Record("gram.bake.16", "gram", "bake", 16), tmp_path, torch.device("cpu"))
