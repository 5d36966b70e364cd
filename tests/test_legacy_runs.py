"""Run folders written by zoo3d 0.1 (checkpoint format 1) still load, sample and resume.

The fixtures (tests/fixtures/format1/<model>/, made by tools/make_format1_runs.py on that code) are
each a run interrupted at a mid-stage checkpoint, the images its EMA generator rendered, and the losses
the uninterrupted run went on to compute. Loading must render the same images; resuming must compute
the same losses at every later step (so the migrated config trains exactly as the stored one did:
same stages, lengths, batch sizes, loss weights, learning rates, optimiser state and RNG streams).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, run_cli

LEGACY = FIXTURES / "format1"
MODELS = sorted(p.name for p in LEGACY.iterdir() if (p / "expected.json").is_file())


def _copy_run(name: str, tmp_path: Path) -> tuple[Path, dict]:
    run = tmp_path / name
    shutil.copytree(LEGACY / name / "run", run)
    return run, json.loads((LEGACY / name / "expected.json").read_text())


def test_every_trainable_builtin_model_has_a_format1_run():
    assert MODELS == ["gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"]


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("name", MODELS)
def test_format1_run_loads_and_renders_what_it_rendered(name, tmp_path):
    from zoo3d.cameras import Camera
    from zoo3d.runs import load_model
    from zoo3d.train.sampling import render_views, seed_latents

    run, expected = _copy_run(name, tmp_path)
    loaded = load_model(str(run), device="cpu")
    assert loaded.spec.name == expected["model"] and loaded.step == expected["checkpoint_step"]
    gen, sample = loaded.generator, expected["sample"]
    prior = gen.camera_prior
    cams = Camera.from_angles(torch.tensor(sample["yaws"]), prior.pitch_mean, prior.radius, prior.fov)
    images = render_views(gen, seed_latents(sample["seeds"], gen.z_dim), cams, psi=sample["psi"]).rgb
    reference = load_file(str(LEGACY / name / "sample.safetensors"))["images"]
    assert images.shape == reference.shape
    torch.testing.assert_close(images, reference, atol=1e-5, rtol=0)


@pytest.fixture
def recorded_computation(monkeypatch):
    """The computations fixed after the fixtures were recorded, as they were then: the synthetic heads'
    unguarded Newton step (their outline pixels), GRAMInverter's corner-aligned, zero-padded detail-voxel read, the
    tri-plane reals' raw half left unblurred during the blur fade, and pi-GAN's density noise drawn once per sample
    at its query (not afresh at each integration). The expected losses are those of that code, so the resume is
    compared with them on the same data and reads."""
    from functools import partial

    import zoo3d.data.synthetic as synthetic
    import zoo3d_gram_inverter.detail as detail
    import zoo3d_triplane.model as triplane
    from zoo3d.core.representation import Radiance
    from zoo3d.data.sphere_trace import newton_refine
    from zoo3d.render.volume import VolumeRenderer
    from zoo3d_pigan.generator import PiGanField

    monkeypatch.setattr(synthetic, "newton_refine", partial(newton_refine, guard=False))
    monkeypatch.setattr(detail, "sample_camera_voxel", partial(detail.sample_camera_voxel, align_corners=True,
                                                               depth_border=False))
    monkeypatch.setattr(triplane, "blur_images", lambda images, sigma: images)

    def noise_at_query(field, points, dirs):
        sigma, rgb = field.siren(points, dirs, field.freq, field.phase)
        if field.density_noise > 0:
            sigma = sigma + torch.randn_like(sigma) * field.density_noise
        return Radiance(rgb=rgb, sigma=sigma)

    monkeypatch.setattr(PiGanField, "query", noise_at_query)
    monkeypatch.setattr(VolumeRenderer, "_with_density_noise", staticmethod(lambda rep, raw, generator: raw))


@pytest.mark.usefixtures("single_thread", "recorded_computation")
@pytest.mark.parametrize("name", MODELS)
def test_format1_run_resumes_and_computes_the_losses_it_would_have(name, tmp_path):
    from zoo3d.launch import train_model

    run, expected = _copy_run(name, tmp_path)
    result = train_model(name, out=run, resume=True, progress=False)
    assert result.status == "done"
    assert result.step == sum(expected["stage_lengths"])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    later = {str(r["step"]): [v for k, v in r.items() if k.startswith("loss.")]
             for r in records if "event" not in r and r["step"] > expected["checkpoint_step"]}
    assert sorted(later, key=int) == sorted(expected["later_losses"], key=int)
    for step, losses in expected["later_losses"].items():
        torch.testing.assert_close(torch.tensor(later[step]), torch.tensor(losses), rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"{name} step {step}: {m}")


def test_format1_run_samples_from_the_command_line(tmp_path):
    run, _ = _copy_run("gram", tmp_path)
    out = tmp_path / "grid.png"
    done = run_cli("sample", str(run), "--seeds", "0-1", "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file() and out.stat().st_size > 0
