"""The NeuS records of ``zoo3d bench peers``: the scene both fits see, rendered independently, and the authors'
side at its edges.

The scene is checked against the textured sphere of :class:`zoo3d.eval.calibration.TexturedSphereGenerator` written
out here (a ray-sphere quadratic, radius 0.1 + 0.01 tanh z0, texture 0.5 + 0.5 sin(p * (14, 19, 16) + z[1:4]), the
latent ``randn`` of seed 0) on the scene's own rays scaled back to the world; the stops against the module docstring
(at or above the target, at the step or the time cap) with the watched PSNRs and the clock made exact; their
networks' initial weights against seed 0 drawn in their ``Runner.__init__``'s order; their checkout against a
``models`` package earlier on ``sys.path``; the stand-ins for modules their training never needs against what those
modules do where their code uses them (icecream's ``ic`` returns its arguments, ``tqdm`` yields what it wraps), an
installed TensorBoard left alone; a conf without ``warm_up_end`` / ``anneal_end`` against their
``Runner.__init__``'s defaults (0.0).
"""

from __future__ import annotations

import sys
import textwrap
import types

import numpy as np
import pytest
import torch
from test_bench_peers_neus_sides import _authors_run, _scene, scenes, upstream  # noqa: F401 (fixtures)

from zoo3d.benchmarks.peers import neus
from zoo3d.eval.protocol import make_protocol


def _textured_sphere(origins: np.ndarray, dirs: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(colours (n, 3) in [0, 1], |discriminant| (n,)) of rays (n, 3) in world units on the sphere of radius
    0.1 + 0.01 tanh(z0) at the origin with texture 0.5 + 0.5 sin(p * (14, 19, 16) + z[1:4]); black off it."""
    radius = 0.1 + 0.01 * np.tanh(z[0])
    a = (dirs * dirs).sum(-1)
    b = 2 * (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - radius ** 2
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)  # the near root
    points = origins + dirs * t[:, None]
    tex = 0.5 + 0.5 * np.sin(points * np.array([14.0, 19.0, 16.0]) + z[1:4])
    return np.where((disc > 0)[:, None], tex, 0.0), np.abs(disc) / (4 * a)


def test_the_scene_is_the_consistent_textured_sphere_of_seed_0_seen_along_its_own_rays():
    res = 8
    sc = neus.scene(res, 4, torch.device("cpu"))
    proto = make_protocol("small")
    scale = proto.neus.scene_radius * 1.0  # the sphere generator's cameras stand at radius 1
    origins = sc.origins.double().numpy() * scale
    dirs = sc.dirs.double().numpy()
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))[0].double().numpy()
    colours, disc = _textured_sphere(origins, dirs, z)
    clear = disc > 1e-6  # away from the silhouette, where float32 rounding may flip a pixel on or off
    hit = (colours > 0).any(-1)
    assert clear.mean() > 0.95 and 0.3 < hit.mean() < 0.9  # most pixels decided, sphere and background both seen
    assert np.allclose(sc.colours.double().numpy()[clear], colours[clear], atol=1e-4)
    views = colours.reshape(proto.views, res, res, 3).transpose(0, 3, 1, 2) * 2 - 1  # (V, 3, R, R) in [-1, 1]
    decided = np.broadcast_to(clear.reshape(proto.views, 1, res, res), views.shape)
    assert np.allclose(sc.views.double().numpy()[decided], views[decided], atol=2e-4)
    # the scene scales its origins only: the directions stay the cameras' unit vectors
    assert np.allclose(np.linalg.norm(dirs, axis=-1), 1.0, atol=1e-5)


def test_their_loop_stops_at_a_watched_psnr_equal_to_the_target(upstream, tmp_path, monkeypatch):
    psnrs = iter([10.0, 12.0, 14.0, 16.0, 18.0])
    monkeypatch.setattr(neus, "pooled_psnr", lambda pred, target: next(psnrs))
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "100")
    work, finish = _authors_run(upstream, tmp_path, target=12.0)
    watch = work()
    assert [(p["iteration"], p["psnr_db"]) for p in watch.curve] == [(20, 10.0), (40, 12.0)]  # at, not above


def test_their_loop_stops_at_a_watched_time_equal_to_the_time_cap(upstream, tmp_path, monkeypatch):
    ticks = iter(range(10 ** 6))  # every reading 0.5 s after the last: each watch takes 0.5 s, each stretch 0.5 s
    monkeypatch.setattr(neus, "time", types.SimpleNamespace(perf_counter=lambda: 0.5 * next(ticks)))
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "100")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_S", "1.0")
    work, finish = _authors_run(upstream, tmp_path, target=1000.0)
    watch = work()
    assert [(p["iteration"], p["train_s"]) for p in watch.curve] == [(20, 0.5), (40, 1.0)]


FIELDS = """
    import torch

    class _Net(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.kwargs = kwargs
            self.p = torch.nn.Parameter(torch.randn(3))

    class SDFNetwork(_Net):
        pass

    class RenderingNetwork(_Net):
        pass

    class SingleVarianceNetwork(_Net):
        pass
"""


def test_their_networks_start_from_seed_0_whatever_the_process_generator_holds(upstream, tmp_path):
    (upstream / "models" / "fields.py").write_text(textwrap.dedent(FIELDS))  # networks that draw their weights
    exp_runner, Dataset, *nets = neus._import(upstream)
    conf = neus.authors_conf(upstream, make_protocol("small").neus, 6, 40)
    torch.manual_seed(1234)
    r = neus._runner(exp_runner, Dataset, nets, conf, _scene(), tmp_path, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    sdf, deviation, colour = (torch.randn(3, generator=g) for _ in range(3))  # their __init__'s order
    assert torch.equal(r.sdf_network.p.detach(), sdf)
    assert torch.equal(r.deviation_network.p.detach(), deviation)
    assert torch.equal(r.color_network.p.detach(), colour)


def test_their_checkout_comes_before_a_models_package_already_on_the_path(upstream, tmp_path, monkeypatch):
    decoy = tmp_path / "elsewhere"
    (decoy / "models").mkdir(parents=True)
    (decoy / "models" / "__init__.py").write_text("")
    (decoy / "models" / "dataset.py").write_text("class Dataset:\n    decoy = True\n")
    (decoy / "exp_runner.py").write_text("DECOY = True\n")
    monkeypatch.setattr(sys, "path", [str(decoy), *sys.path])  # a script's folder with its own models package
    exp_runner, Dataset, *nets = neus._import(upstream)
    assert exp_runner.__file__ == str(upstream / "exp_runner.py")
    assert sys.modules["models.dataset"].__file__ == str(upstream / "models" / "dataset.py")
    assert not hasattr(Dataset, "decoy")


#: what their training path imports but never needs (``tensorboard`` is the package behind torch's writer)
OPTIONAL = ("cv2", "mcubes", "trimesh", "icecream", "tqdm", "tensorboard")


def test_every_module_their_training_never_needs_gets_a_stand_in_that_behaves_as_used(upstream, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in OPTIONAL else find_spec(name, *a))
    for name in (*OPTIONAL, "torch.utils.tensorboard"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # put back as they were afterwards
    exp_runner, *_ = neus._import(upstream)
    for name in ("cv2", "mcubes", "trimesh", "icecream", "tqdm"):
        assert getattr(sys.modules[name], "__file__", None) is None, name  # empty, not an installed copy
    ic, tqdm = sys.modules["icecream"].ic, sys.modules["tqdm"].tqdm
    assert ic(7) == 7 and ic(1, "a") == (1, "a")  # icecream's ic returns its argument, or their tuple
    steps = range(5)
    assert tqdm(steps, desc="train", leave=False) is steps  # their loop iterates what it is given
    writer = sys.modules["torch.utils.tensorboard"]
    assert writer.__name__ == "torch.utils.tensorboard" and writer.SummaryWriter is neus._NullWriter
    assert exp_runner.SummaryWriter is neus._NullWriter


def test_a_conf_without_warm_up_or_anneal_takes_their_runners_defaults(upstream, tmp_path):
    exp_runner, Dataset, *nets = neus._import(upstream)
    conf = neus.authors_conf(upstream, make_protocol("small").neus, 6, 40)
    for key in ("warm_up_end", "anneal_end"):
        del conf["train"][key]
    r = neus._runner(exp_runner, Dataset, nets, conf, _scene(), tmp_path, torch.device("cpu"))
    assert (r.warm_up_end, r.anneal_end) == (0.0, 0.0)  # their Runner: no warm-up, cos-anneal ratio 1 throughout
    assert r.get_cos_anneal_ratio() == 1.0


def test_an_installed_tensorboard_is_left_in_place_and_only_their_runners_writer_is_replaced(upstream, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "tensorboard" else find_spec(name, *a))
    installed = types.ModuleType("torch.utils.tensorboard")
    installed.SummaryWriter = type("SummaryWriter", (), {})
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", installed)
    exp_runner, *_ = neus._import(upstream)
    assert sys.modules["torch.utils.tensorboard"] is installed and installed.SummaryWriter.__name__ == "SummaryWriter"
    assert exp_runner.SummaryWriter is neus._NullWriter  # logging is not fitting, whatever is installed
