"""``zoo3d demo`` (``make demo``) as README.md and docs/training.md describe it, with a recording stand-in for the
training and for the trained generator: it trains the model with the role ``demo`` (gram_hd) with its ``demo``
preset into ``--out`` (default runs/demo-gram-hd), continues a run already there, then writes ``turntable.gif`` (a
yaw sweep of ``--seed`` within +-0.4 of the prior's mean yaw, psi 0.7, 12 fps, ``--frames`` frames) and
``samples.png`` (seeds 0-7 at yaws mean-std, mean, mean+std, psi 1, each HR row followed by its LR render upsampled
nearest) and prints their paths. The expected pictures are composed here from those rules."""

from __future__ import annotations

import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo3d.cli.demo as demo_module
from conftest import run_in_process as zoo3d
from zoo3d.train.engine import TrainResult

PRIOR = types.SimpleNamespace(yaw_mean=0.1, yaw_std=0.25, centre_pitch=0.2, pitch_mean=0.15, radius=2.5, fov=14.0)
SIDE = 8  # the stand-in's HR image side; its LR render is SIDE // 2


def _latent(seed: int, z_dim: int = 3) -> torch.Tensor:
    """A seed's latent as docs/training.md defines it: randn(1, z_dim) from a CPU generator seeded with it."""
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))[0]


def _hr(z0: float, yaw: float, pitch: float, psi: float) -> np.ndarray:
    """The stand-in's HR image: one colour saying which latent, truncation and view drew it."""
    colour = np.array([0.8 * math.tanh(z0) * psi, yaw, pitch])
    return np.broadcast_to(colour, (SIDE, SIDE, 3))


def _lr(z0: float, yaw: float, pitch: float, psi: float) -> np.ndarray:
    """The stand-in's LR render: the HR colour on a 2x2-pixel checker of sign flips (so a resize shows)."""
    sign = np.where((np.add.outer(np.arange(SIDE // 2), np.arange(SIDE // 2)) % 2) == 0, 1.0, -1.0)
    return _hr(z0, yaw, pitch, psi)[: SIDE // 2, : SIDE // 2] * sign[..., None]


class StandInGenerator:
    z_dim = 3
    device = torch.device("cpu")
    dtype = torch.float64  # not torch's default: the latents must come in the generator's dtype
    camera_prior = PRIOR

    def __init__(self, lr: bool):
        self.lr = lr
        self.radii, self.intrinsics = [], []

    def __call__(self, z, cams, psi=1.0, resolution=None):
        assert z.dtype == self.dtype and z.shape == (cams.cam2world.shape[0], self.z_dim), (z.dtype, z.shape)
        eye = cams.cam2world[:, :3, 3].double()
        radius = eye.norm(dim=-1)
        self.radii += radius.tolist()
        self.intrinsics.append(cams.intrinsics)
        yaw, pitch = torch.atan2(-eye[:, 0], eye[:, 2]), torch.asin(eye[:, 1] / radius)
        views = list(zip(z[:, 0].tolist(), yaw.tolist(), pitch.tolist()))
        hr = torch.tensor(np.stack([_hr(*v, psi) for v in views])).permute(0, 3, 1, 2).float()
        raw = None
        if self.lr:
            raw = types.SimpleNamespace(rgb=torch.tensor(np.stack([_lr(*v, psi) for v in views])).permute(0, 3, 1, 2))
        return types.SimpleNamespace(rgb=hr, depth=None, raw=raw)


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """The demo with its training and its trained generator replaced by recording stand-ins, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    rec = types.SimpleNamespace(trained=[], loaded=[], generator=StandInGenerator(lr=True), step=1400, status="done",
                                clock=[100.0, 700.0, 1000.0])

    def train_model(model, **kw):
        rec.trained.append(dict(model=model, **kw))
        run_dir = Path(kw["out"])
        done = run_dir / "config.yaml"
        start = int(done.read_text()) if done.is_file() else 0
        run_dir.mkdir(parents=True, exist_ok=True)
        step = max(start, kw["steps"] or rec.step)
        done.write_text(str(step))
        return TrainResult(run_dir=run_dir, step=step, status=rec.status, checkpoint=None, signal="SIGTERM",
                           start_step=start)

    def load_model(run, device=None, **kw):
        rec.loaded.append(dict(run=run, device=device, **kw))
        return types.SimpleNamespace(generator=rec.generator)

    def clock():
        return rec.clock.pop(0)

    monkeypatch.setattr("zoo3d.launch.train_model", train_model)
    monkeypatch.setattr("zoo3d.runs.load_model", load_model)
    monkeypatch.setattr(demo_module, "time", types.SimpleNamespace(perf_counter=clock))
    return rec


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Images (H, W, 3) in [-1, 1] as a grid of 8-bit pixels: 2-pixel white borders around and between."""
    h, w = rows[0][0].shape[:2]
    canvas = np.full((2 + len(rows) * (h + 2), 2 + len(rows[0]) * (w + 2), 3), 255.0)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            canvas[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + c * (w + 2):2 + c * (w + 2) + w] = (image + 1) * 127.5
    return canvas


def _expected_grid(lr: bool) -> np.ndarray:
    rows = []
    for yaw in (PRIOR.yaw_mean - PRIOR.yaw_std, PRIOR.yaw_mean, PRIOR.yaw_mean + PRIOR.yaw_std):
        views = [(float(_latent(s)[0]), yaw, PRIOR.centre_pitch, 1.0) for s in range(8)]
        rows.append([_hr(*v) for v in views])
        if lr:
            rows.append([np.kron(_lr(*v), np.ones((2, 2, 1))) for v in views])  # nearest, x2
    return _grid(rows)


def _gif_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    frames, durations = [], []
    with Image.open(path) as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.float64))
            durations.append(gif.info["duration"])
    return frames, durations


def _check_turntable(path: Path, seed: int, frames: int) -> None:
    got, durations = _gif_frames(path)
    assert len(got) == frames
    z0 = float(_latent(seed)[0])
    for i, frame in enumerate(got):
        yaw = PRIOR.yaw_mean - 0.4 + 0.8 * i / (frames - 1)
        assert np.abs(frame - (_hr(z0, yaw, PRIOR.centre_pitch, 0.7) + 1) * 127.5).max() <= 1.0, i
    assert abs(sum(durations) - 1000 * frames / 12) < 10  # 12 frames a second


def test_make_demo_trains_gram_hd_demo_preset_into_runs_demo_gram_hd_and_writes_both_pictures(stand_in, capsys):
    code, out, err = zoo3d(capsys, "demo")
    assert code == 0, err
    run = Path("runs/demo-gram-hd")
    assert stand_in.trained == [dict(model="gram_hd", preset="demo", out=run, steps=None, device="auto", resume=False,
                                     overrides=[])]
    assert stand_in.loaded == [dict(run=str(run), device="auto")]
    assert out == ("Trained 1400 steps in 10.0 min; demo done in 15.0 min.\n"
                   f"Turntable: {run / 'turntable.gif'}\nSamples:   {run / 'samples.png'}\n")
    _check_turntable(run / "turntable.gif", seed=0, frames=24)
    grid = np.asarray(Image.open(run / "samples.png").convert("RGB"), dtype=np.float64)
    expected = _expected_grid(lr=True)
    assert grid.shape == expected.shape and np.abs(grid - expected).max() <= 1.0
    gen = stand_in.generator
    assert np.allclose(gen.radii, PRIOR.radius)
    from zoo3d.cameras import Camera

    assert all(torch.allclose(k, Camera.from_angles(0.0, 0.0, fov=PRIOR.fov).intrinsics.expand_as(k))
               for k in gen.intrinsics)


def test_each_option_reaches_the_training_and_the_pictures(stand_in, capsys):
    code, out, err = zoo3d(capsys, "demo", "--out", "d", "--device", "cpu", "--steps", "5", "--frames", "3",
                           "--seed", "9", "--set", "train.lr_g=1e-4", "--set", "data.spec=synthetic:heads")
    assert code == 0, err
    assert stand_in.trained == [dict(model="gram_hd", preset="demo", out=Path("d"), steps=5, device="cpu",
                                     resume=False, overrides=["train.lr_g=1e-4", "data.spec=synthetic:heads"])]
    assert stand_in.loaded == [dict(run="d", device="cpu")]
    assert out.startswith("Trained 5 steps in 10.0 min;")
    _check_turntable(Path("d/turntable.gif"), seed=9, frames=3)


def test_a_model_without_an_lr_render_has_one_row_per_yaw(stand_in, capsys):
    stand_in.generator = StandInGenerator(lr=False)
    code, _, err = zoo3d(capsys, "demo", "--out", "d")
    assert code == 0, err
    grid = np.asarray(Image.open("d/samples.png").convert("RGB"), dtype=np.float64)
    expected = _expected_grid(lr=False)
    assert grid.shape == expected.shape and np.abs(grid - expected).max() <= 1.0


def test_running_again_continues_the_run_and_says_what_this_run_trained(stand_in, capsys):
    assert zoo3d(capsys, "demo", "--out", "d", "--steps", "4")[0] == 0
    stand_in.clock = [100.0, 400.0, 760.0]
    code, out, err = zoo3d(capsys, "demo", "--out", "d", "--steps", "10")
    assert code == 0, err
    assert stand_in.trained[-1] == dict(model="gram_hd", preset=None, out=Path("d"), steps=10, device="auto",
                                        resume=True, overrides=[])
    assert out.splitlines()[:2] == ["Continuing the demo run in d (delete it to start over).",
                                    "Trained to step 10 (6 steps in this run) in 5.0 min; demo done in 11.0 min."]
    stand_in.clock = [50.0, 56.0, 62.0]
    code, out, _ = zoo3d(capsys, "demo", "--out", "d", "--steps", "10")
    assert code == 0
    assert out.splitlines()[1] == "The run was already at step 10: nothing to train; demo done in 0.2 min."
    assert len(stand_in.loaded) == 3  # a finished run is rendered again


def test_set_on_a_run_already_there_is_refused_before_training(stand_in, capsys):
    Path("d").mkdir()
    Path("d/config.yaml").write_text("3")
    code, _, err = zoo3d(capsys, "demo", "--out", "d", "--set", "train.lr_g=1e-4")
    assert code == 2 and not stand_in.trained
    assert err.strip() == ("Error: --set configures a new demo run, but 'd' already holds one; delete it or choose "
                           "another --out.")
    stand_in.clock = [0.0, 1.0, 2.0]
    Path("e").mkdir()  # a folder without a run: a new one
    assert zoo3d(capsys, "demo", "--out", "e", "--set", "train.lr_g=1e-4")[0] == 0
    assert stand_in.trained[-1]["resume"] is False and stand_in.trained[-1]["preset"] == "demo"


def test_without_a_model_in_the_demo_role_the_error_names_zoo3d_demo(stand_in, monkeypatch, capsys):
    monkeypatch.setattr("zoo3d.plugins.models_with_role", lambda role: [])
    code, _, err = zoo3d(capsys, "demo")
    assert code == 2 and not stand_in.trained
    assert err.strip() == ("Error: zoo3d demo needs a model with the role 'demo', and no registered model declares it "
                           "(see `zoo3d models`).")


def test_an_interrupted_training_renders_nothing_and_says_how_to_continue(stand_in, capsys):
    stand_in.status = "interrupted"
    code, out, err = zoo3d(capsys, "demo", "--out", "d")
    assert code == 128 + 15 and not stand_in.loaded and out == ""  # SIGTERM's status, as zoo3d train exits
    assert err == "Stopped by SIGTERM; run `zoo3d demo --out d` again to continue.\n"
    assert not Path("d/turntable.gif").exists() and not Path("d/samples.png").exists()
