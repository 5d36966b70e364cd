"""``zoo3d invert`` saves each image's inversion (inversion.safetensors) on a trained toy run: loaded again by
``zoo3d.invert.load_inversion`` (from another folder than the one invert ran in, with the EMA generator or the raw one
as inverted) it draws reconstruction.png's pixels at the input view, ``zoo3d render --inversion`` draws the
turntable's frames at the same yaws, PTI's tuned weights come back. Refused in one sentence: a checkpoint changed or
gone since (or a trained run where the model was built without one), the options that choose another instance, frames
beyond the bounds, what is not one image's inversion (the folder of every image, a picture beside it or alone, a file
of a later format, a folder inverted before the inversion was saved, a path gone or holding none, a pickle, a file cut
short, a safetensors file without the header), and a single-pass inversion of a model that builds no single-pass
inverter. A recorded checkpoint that still exists is taken before one at its place relative to the inversion; a
safetensors inversion under another name is read by its header."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_toy import generator, train_toy_run, zoo3d
from cli_toy import toy  # noqa: F401 (a fixture)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from conftest import one_line_error
import toy_model
from toy_model import CENTRE, REAL_COLOUR, render_spheres
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.imageio import save_image, to_uint8
from zoo3d.invert import load_inversion
from zoo3d.invert.saved import read_inversion

#: the input pose given to invert, and the turntable's half range
POSE, YAW_RANGE = (0.25, 0.1), 0.3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "saved_inversion")


@pytest.fixture
def photo(toy):
    """A reddish sphere seen from POSE, in the test's working folder."""
    cam = Camera.from_angles(*POSE, 1.2, 13.0)
    image = render_spheres(torch.tensor([REAL_COLOUR]), torch.tensor([0.07]), cam, (16, 16)).rgb[0]
    save_image(image, toy / "sphere.png")
    return toy / "sphere.png"


def _invert(photo, ckpt, *args) -> "Path":  # noqa: F821
    code = zoo3d("invert", photo, "--model", "toy", "--ckpt", ckpt, "--method", "optimize", "--pose",
                 ",".join(map(str, POSE)), "--steps", "5", "--frames", "4", "--yaw-range", str(YAW_RANGE), "--out",
                 "inv", *args)
    assert code == 0
    return photo.parent / "inv" / "sphere"


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_reloaded_inversion_draws_reconstruction_png_at_the_input_view_with_the_run_it_names(photo, run, capsys,
                                                                                               monkeypatch):
    from zoo3d.runs import file_sha256

    checkpoint = run / "checkpoints" / "step_000000002.safetensors"
    folder = _invert(photo, os.path.relpath(checkpoint))  # the file as typed, relative to the folder invert ran in
    (photo.parent / "elsewhere").mkdir()
    monkeypatch.chdir(photo.parent / "elsewhere")
    inverter, result = load_inversion(folder, "cpu")
    header = result.extras["header"]
    assert (header["model"], header["checkpoint"], header["sha256"]) == ("toy", str(checkpoint.resolve()),
                                                                        file_sha256(checkpoint))
    assert (header["method"], header["space"], header["steps"], header["ema"]) == ("optimize", "z", 5, True)
    angles = result.cameras.to_angles()
    assert [float(angles["yaw"][0]), float(angles["pitch"][0])] == pytest.approx(POSE, abs=1e-6)
    recon = _png(folder / "reconstruction.png")
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), recon)
    start = inverter.restore({"latent": torch.zeros_like(result.latent)}, result.cameras)
    assert not np.array_equal(to_uint8(inverter.render(start, result.cameras).rgb[0]), recon)  # the latent moved


def test_a_yaw_sweep_rendered_from_it_is_the_turntable_at_the_same_yaws(photo, run, monkeypatch, capsys):
    import zoo3d.imageio as imageio

    turntable = []
    real_save = imageio.save_animation

    def recording(frames, path, *args, **kwargs):
        if str(path).endswith("turntable.gif"):
            turntable.extend(to_uint8(f) for f in frames)
        return real_save(frames, path, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(imageio, "save_animation", recording)
        folder = _invert(photo, run)
    capsys.readouterr()
    code = zoo3d("render", "--inversion", folder, "--trajectory", "yaw-sweep", "--frames", "3", "--yaw-range",
                 str(YAW_RANGE), "--out", "sweep")
    assert code == 0
    assert capsys.readouterr().out == (f"Wrote 3 frames of inversion '{folder}' (yaw-sweep around its input view) to "
                                       f"sweep.\n")
    sweep = [_png(photo.parent / "sweep" / f"frame_{i:04d}.png") for i in range(3)]
    # the turntable's 4 frames: the input yaw, +R, the input yaw, -R; the sweep's 3: -R, the input yaw, +R
    for got, want in zip(sweep, (turntable[3], turntable[0], turntable[1])):
        assert np.array_equal(got, want)
    assert not np.array_equal(sweep[0], sweep[2])  # the views differ: the sphere sits off the axis


def test_ptis_tuned_weights_come_back_and_draw_its_reconstruction(photo, run, monkeypatch):
    import zoo3d.invert as invert

    results = []
    real_invert = invert.OptimizationInverter.invert

    def recording(self, *args, **kwargs):
        results.append(real_invert(self, *args, **kwargs))
        return results[-1]

    monkeypatch.setattr(invert.OptimizationInverter, "invert", recording)
    folder = _invert(photo, run, "--tune-steps", "3")
    tuned = results[0].generator.state_dict()
    inverter, result = load_inversion(folder, "cpu")
    base = inverter.generator.state_dict()
    assert result.generator is not None and any(not torch.equal(v, base[k]) for k, v in tuned.items())
    assert all(torch.equal(value, tuned[name]) for name, value in result.generator.state_dict().items())
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]),
                          _png(folder / "reconstruction.png"))


def test_an_inversion_of_the_raw_generator_is_drawn_by_it_again(photo, run):
    folder = _invert(photo, run, "--no-ema")
    inverter, result = load_inversion(folder, "cpu")
    assert result.extras["header"]["ema"] is False
    raw, average = generator(run, ema=False).state_dict(), generator(run).state_dict()
    assert any(not torch.equal(value, average[name]) for name, value in raw.items())  # the EMA would draw another
    assert all(torch.equal(value, raw[name]) for name, value in inverter.generator.state_dict().items())
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]),
                          _png(folder / "reconstruction.png"))


def test_a_checkpoint_changed_or_gone_since_is_refused_in_one_sentence(photo, run, capsys):
    from safetensors.torch import load_file, save_file

    from zoo3d.runs import file_sha256
    from zoo3d.train.checkpoint import read_metadata

    copy = shutil.copytree(run, photo.parent / "copy")
    folder = _invert(photo, copy)
    checkpoint = (copy / "checkpoints" / "step_000000002.safetensors").resolve()
    tensors, meta = load_file(checkpoint), read_metadata(checkpoint)
    name = next(k for k in tensors if k.startswith("generator."))
    recorded = file_sha256(checkpoint)
    save_file({**tensors, name: tensors[name] + 1}, checkpoint, metadata=meta)  # other weights, a valid checkpoint
    capsys.readouterr()
    assert zoo3d("render", "--inversion", folder, "--out", "again.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        f"Error: Checkpoint '{checkpoint}' has changed since inversion '{folder / 'inversion.safetensors'}' was made "
        f"with it (sha256 {file_sha256(checkpoint)[:12]}…, not {recorded[:12]}…), so it would render another scene; "
        f"invert the image again.")
    assert not (photo.parent / "again.gif").exists()
    _invert(photo, copy, "--resume")  # its metrics.json names the old weights' hash: inverted again, not passed over
    assert "already inverted" not in capsys.readouterr().err
    load_inversion(folder)  # made with the weights now at that path
    checkpoint.unlink()
    with pytest.raises(UserError, match=r"which no longer exists \(nor at its place relative to the inversion\); "
                                        r"invert the image again"):
        load_inversion(folder)


def test_runs_and_inversions_moved_together_are_found_again_and_an_inversion_moved_alone_is_refused(photo, run):
    from safetensors.torch import load_file, save_file

    from zoo3d.train.checkpoint import read_metadata

    copy = shutil.copytree(run, photo.parent / "project" / "runs" / "toy")
    _invert(photo, copy)
    recorded = load_inversion(photo.parent / "inv" / "sphere", "cpu")[1].extras["header"]["checkpoint"]
    # a copy of both beside the first, whose run trained on: the recorded checkpoint, still there, is the one taken
    shutil.copytree(photo.parent / "inv", photo.parent / "other" / "inv")
    shutil.copytree(copy, photo.parent / "other" / "project" / "runs" / "toy")
    retrained = photo.parent / "other" / "project" / "runs" / "toy" / "checkpoints" / Path(recorded).name
    tensors = load_file(retrained)
    save_file({name: t + 1 for name, t in tensors.items()}, retrained, metadata=read_metadata(retrained))
    inverter, _ = load_inversion(photo.parent / "other" / "inv" / "sphere", "cpu")
    first = generator(copy).state_dict()
    assert all(torch.equal(t, first[name]) for name, t in inverter.generator.state_dict().items())
    shutil.rmtree(photo.parent / "other")
    moved = photo.parent / "elsewhere"  # runs and inversions moved together: the absolute path is gone
    moved.mkdir()
    for name in ("project", "inv"):
        shutil.move(photo.parent / name, moved / name)
    folder = moved / "inv" / "sphere"
    inverter, result = load_inversion(folder, "cpu")
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), _png(folder / "reconstruction.png"))
    alone = shutil.move(folder, photo.parent / "alone")  # the inversion without its runs beside it
    with pytest.raises(UserError) as err:
        load_inversion(alone)
    assert str(err.value) == (  # the checkpoint as recorded, not the place it was looked for beside the inversion
        f"Inversion '{Path(alone) / 'inversion.safetensors'}' was made with checkpoint '{recorded}', which no longer "
        f"exists (nor at its place relative to the inversion); invert the image again with a checkpoint that does.")


@pytest.mark.parametrize("args, named", [
    (["--seed", "3"], "--seed does"), (["--psi", "0.5"], "--psi does"), (["--no-ema"], "--no-ema does"),
    (["RUN", "--model", "toy"], "RUN, --model do")])
def test_options_choosing_another_instance_or_weights_are_refused_beside_an_inversion(toy, run, capsys, args, named):
    args = [str(run) if a == "RUN" else a for a in args]
    assert zoo3d("render", *args, "--inversion", toy, "--out", "x.gif") == 2
    err = one_line_error(capsys.readouterr().err)
    assert err.startswith(f"Error: {named} not apply to --inversion, which renders the inverted image with the weights it "
                          f"was inverted with")
    assert not (toy / "x.gif").exists()


def test_cached_of_an_inversion_whose_model_has_no_manifolds_is_refused_as_a_seeds_is(photo, run, capsys):
    folder = _invert(photo, run)
    capsys.readouterr()
    assert zoo3d("render", "--inversion", folder, "--cached", "--frames", "2", "--out", "x.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: ToyGenerator cannot be cached as textured layers: it does not implement textured_layers() of "
        "zoo3d.freeview.SupportsManifoldCache, as the radiance-manifold models gram, gram_hd and gram_inverter do "
        "(docs/freeview.md; zoo3d render without --cached, and zoo3d export --format ply|obj, work for every model).")
    assert not (photo.parent / "x.gif").exists()


class _MeshableSpheres(dict):
    """The toy's representation (a dict of colour and radius), offering mesh_field: the ball of its radius at CENTRE,
    and query: its colour (in [-1, 1]) as rgb in [0, 1] everywhere."""

    bounds = 0.15

    def mesh_field(self, points):
        centre = torch.tensor(CENTRE, dtype=points.dtype, device=points.device)
        return self["radius"][:, None] - (points - centre).norm(dim=-1), 0.0

    def query(self, points, dirs):
        from types import SimpleNamespace

        return SimpleNamespace(rgb=((self["colour"][:, None] + 1) / 2).expand(*points.shape[:2], 3))


def test_a_ply_export_of_an_inversion_meshes_the_representation_its_saved_latent_gives(photo, run, capsys,
                                                                                     monkeypatch):
    from zoo3d.mesh import extract_mesh, read_ply

    real = toy_model.ToyGenerator.represent
    monkeypatch.setattr(toy_model.ToyGenerator, "represent",
                        lambda self, z, psi=1.0: _MeshableSpheres(real(self, z, psi)))
    folder = _invert(photo, run)
    capsys.readouterr()
    assert zoo3d("export", "--inversion", folder, "--resolution", "16", "--level", "0.002", "--no-colors", "--out",
                 "ball.ply") == 0
    mesh = read_ply(photo.parent / "ball.ply")
    assert capsys.readouterr().out == (f"Wrote {mesh.num_vertices} vertices and {mesh.num_faces} faces (ply) to "
                                       f"ball.ply.\n")
    inverter, result = load_inversion(folder, "cpu")
    want = extract_mesh(result.representation, resolution=16, level=0.002, colors=False)
    assert np.array_equal(mesh.faces, want.faces) and np.abs(mesh.vertices - want.vertices).max() <= 1e-6
    reach = np.linalg.norm(mesh.vertices - np.array(CENTRE), axis=1).max()  # the ball of the saved latent's radius
    assert reach == pytest.approx(float(result.representation["radius"][0]) - 0.002, abs=1e-3)
    start = inverter.restore({"latent": torch.zeros_like(result.latent)}, result.cameras).representation
    other = extract_mesh(start, resolution=16, level=0.002, colors=False)  # the latent before the steps moved it
    assert other.vertices.shape != mesh.vertices.shape or np.abs(other.vertices - mesh.vertices).max() > 1e-5
    assert mesh.colors is None  # --no-colors
    assert zoo3d("export", "--inversion", folder, "--resolution", "16", "--level", "0.002", "--out", "rgb.ply") == 0
    coloured = read_ply(photo.parent / "rgb.ply")  # every vertex the saved latent's colour
    rgb = np.tile(np.round((result.representation["colour"][0].numpy() + 1) / 2 * 255), (mesh.num_vertices, 1))
    assert np.array_equal(coloured.vertices, mesh.vertices) and np.array_equal(coloured.colors, rgb)


@pytest.mark.parametrize("args, message", [
    (["--resolution", "2049", "--depth", "side"], "A resolution of 2049x4098 is above the largest zoo3d renders"),
    (["--frames", "5001", "--depth", "separate"], "--frames 5001 asks for 10,002; at most 10,000 frames fit")])
def test_frames_beyond_the_bounds_are_refused_with_their_depth_before_any_is_drawn(photo, run, capsys, monkeypatch,
                                                                                     args, message):
    import zoo3d.invert.outputs as outputs

    folder = _invert(photo, run)
    capsys.readouterr()
    monkeypatch.setattr(outputs, "render_each", lambda *a, **k: pytest.fail("drawn before the bounds were checked"))
    assert zoo3d("render", "--inversion", folder, *args, "--out", "x.gif") == 2
    assert message in one_line_error(capsys.readouterr().err)


def test_a_pitch_range_beside_a_yaw_sweep_is_refused_naming_the_input_views_pitch(toy, capsys):
    assert zoo3d("render", "--inversion", toy, "--trajectory", "yaw-sweep", "--pitch-range", "0.2", "--out",
                 "x.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: --pitch-range sets the orbit's pitch amplitude, not a yaw sweep, which stays at the pitch of the "
        "inversion's input view; leave it out or choose --trajectory orbit.")


def test_the_folder_of_every_image_is_refused_naming_one_image_folder(photo, run, capsys):
    _invert(photo, run)
    capsys.readouterr()
    assert zoo3d("render", "--inversion", "inv", "--out", "x.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Folder 'inv' holds the inversions of 1 image in its sub-folders, not one of its own; give one image's "
        "folder, such as 'inv/sphere'.")


def test_a_picture_beside_the_inversion_or_a_later_format_of_it_is_refused_in_one_sentence(photo, run, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    folder = _invert(photo, run)
    capsys.readouterr()
    assert zoo3d("render", "--inversion", "inv/sphere/reconstruction.png", "--out", "x.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (  # not "truncated or corrupt; invert the image again"
        "Error: 'inv/sphere/reconstruction.png' is not an inversion zoo3d invert wrote (not a safetensors file); give "
        "its folder, 'inv/sphere'.")
    file = folder / "inversion.safetensors"
    renamed = shutil.copy(file, folder / "kept.bak")  # a safetensors file under another name is read by its header
    assert read_inversion(renamed)[0]["model"] == "toy"
    with safe_open(str(file), framework="pt") as fh:
        meta = fh.metadata()
    header = json.loads(meta["zoo3d.inversion"])
    assert header["format"] == 1
    save_file(load_file(file), file, metadata={**meta, "zoo3d.inversion": json.dumps({**header, "format": 2})})
    with pytest.raises(UserError, match=r"^Inversion '.*' is in format 2, which this zoo3d does not read \(it reads "
                                        r"format 1\); invert the image again with it\.$"):
        load_inversion(folder, "cpu")
    save_file(load_file(file), file, metadata={**meta, "zoo3d.inversion": json.dumps({**header, "method": "single"})})
    with pytest.raises(UserError) as err:  # as if the toy had built a single-pass inverter then
        load_inversion(folder, "cpu")
    assert str(err.value) == f"Inversion '{file}' was made by the single-pass inverter of model 'toy', which no " \
                             f"longer builds one; invert the image again with --method optimize."


def test_a_path_that_holds_no_inversion_is_refused_in_one_sentence(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with pytest.raises(UserError) as err:
        read_inversion(tmp_path / "gone")
    assert str(err.value) == f"Inversion '{tmp_path / 'gone'}' does not exist; give an image's folder that zoo3d " \
                             f"invert wrote (DIR/<image name>)."
    with pytest.raises(UserError) as err:
        read_inversion(tmp_path)
    assert str(err.value) == f"Folder '{tmp_path}' holds no inversion.safetensors; give an image's folder that zoo3d " \
                             f"invert wrote (DIR/<image name>)."
    file = tmp_path / "inversion.safetensors"
    torch.save({"latent": torch.zeros(2)}, file)
    with pytest.raises(UserError) as err:
        read_inversion(tmp_path)
    assert str(err.value) == f"'{file}' is a pickle-based file, not an inversion zoo3d invert wrote; zoo3d loads " \
                             f"only .safetensors files, because unpickling a file can run arbitrary code."
    file.write_bytes(b"\x40\x00\x00")  # cut short: not a picture beside the inversion, but the inversion damaged
    with pytest.raises(Exception) as raised:
        safe_open(str(file), framework="pt")
    with pytest.raises(UserError) as err:
        read_inversion(tmp_path)
    first = str(raised.value).strip().splitlines()[0]  # safetensors' own words
    assert str(err.value) == f"Inversion '{file}' is truncated or corrupt ({first}); invert the image again."
    save_file({"camera": torch.zeros(1, 25), "state.latent": torch.zeros(1, 3)}, file)  # no zoo3d.inversion header
    with pytest.raises(UserError) as err:
        read_inversion(tmp_path)
    assert str(err.value) == f"'{file}' is not an inversion zoo3d invert wrote (no 'zoo3d.inversion' header and " \
                             f"camera in it)."
    picture = tmp_path / "other" / "photo.png"  # a picture with no inversion beside it: no folder to point at
    picture.parent.mkdir()
    save_image(torch.zeros(3, 4, 4), picture)
    with pytest.raises(UserError) as err:
        read_inversion(picture)
    assert str(err.value) == f"'{picture}' is not an inversion zoo3d invert wrote (not a safetensors file)."


def test_the_checkpoint_relative_to_the_inversion_starts_where_the_file_will_lie(tmp_path):
    """Written in a staging folder two levels above the image's folder it is moved to, the relative path is the image
    folder's; without ``folder``, the file's own."""
    from zoo3d.core.inverter import InversionResult
    from zoo3d.invert.saved import write_inversion

    class Latent:
        def state(self, result):
            return {"latent": result.latent}

    tmp_path = tmp_path.resolve()  # the header's checkpoint is absolute and resolved, as invert writes it
    result = InversionResult(None, Camera.from_angles(0.1, 0.2, 1.2, 13.0), latent=torch.ones(1, 3))
    checkpoint = tmp_path / "runs" / "toy" / "checkpoints" / "step_000000002.safetensors"
    header = {"model": "toy", "checkpoint": str(checkpoint)}
    staged = tmp_path / "staging.tmp" / "inversion.safetensors"
    staged.parent.mkdir()
    write_inversion(staged, Latent(), result, header, folder=tmp_path / "inv" / "a" / "sphere")
    relative = "runs/toy/checkpoints/step_000000002.safetensors"
    assert read_inversion(staged)[0]["checkpoint_from_here"] == f"../../../{relative}"
    write_inversion(staged, Latent(), result, header)
    written, tensors, _ = read_inversion(staged)
    assert written == {"format": 1, **header, "checkpoint_from_here": f"../{relative}"}
    assert torch.equal(tensors["state.latent"], torch.ones(1, 3))


def test_an_image_folder_without_its_inversion_is_refused_by_render_and_inverted_again_by_resume(photo, run, capsys):
    folder = _invert(photo, run)
    (folder / "inversion.safetensors").unlink()  # as an inversion made before invert saved one
    capsys.readouterr()
    assert zoo3d("render", "--inversion", folder, "--out", "x.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        f"Error: Folder '{folder}' holds no inversion.safetensors (it was inverted before zoo3d invert saved the "
        f"inversion, or by an inverter whose results are not saved); invert the image again.")
    folder = _invert(photo, run, "--resume")
    assert "already inverted" not in capsys.readouterr().err
    assert (folder / "inversion.safetensors").is_file()
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 5
    _invert(photo, run, "--resume")
    assert "1 of the 1 image already inverted by this command, passed over" in capsys.readouterr().err


def test_a_checkpoint_free_models_inversion_is_drawn_by_the_model_built_afresh_until_it_has_a_run(toy_image, tmp_path,
                                                                                                   capsys):
    from test_invert_cli import _zoo3d

    code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--pose", "0.1,0", "--steps",
                          "3", "--frames", "1", "--out", str(tmp_path / "inv"))
    assert code == 0, err
    folder = tmp_path / "inv" / "sphere"
    inverter, result = load_inversion(folder, "cpu")
    assert (result.extras["header"]["checkpoint"], result.extras["header"]["sha256"]) == (None, None)
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), _png(folder / "reconstruction.png"))
    code, _, err = _zoo3d(capsys, "train", "toy_procedural", "--steps", "1", "--quiet", "--out",
                          str(tmp_path / "runs" / "trained"))
    assert code == 0, err  # the model's name now loads this run's weights, not the weights it was inverted with
    with pytest.raises(UserError, match=r"^Inversion '.*' was made with model 'toy_procedural' as built without a "
                                        r"checkpoint, and 'toy_procedural' now names its trained run '.*trained.*'; "
                                        r"invert the image again\.$"):
        load_inversion(folder, "cpu")


def test_an_image_folder_or_its_inversion_given_as_a_run_is_pointed_at_render_inversion(photo, run, capsys):
    _invert(photo, run)
    capsys.readouterr()
    # every command that takes a run says it (errors.md): render's, export's and view's, invert's --ckpt
    for args in (("render", "inv/sphere", "--out", "x.gif"), ("export", "inv/sphere", "--out", "x.ply"),
                 ("view", "inv/sphere"), ("invert", photo, "--model", "toy", "--ckpt", "inv/sphere", "--out", "inv2")):
        assert zoo3d(*args) == 2  # it said: give 'inv/sphere/inversion.safetensors'
        assert one_line_error(capsys.readouterr().err) == (
            "Error: 'inv/sphere' is an image's folder that zoo3d invert wrote, not a run; render its inversion with "
            "`zoo3d render --inversion inv/sphere --out FILE` (export and view take --inversion too)."), args[0]
    assert zoo3d("sample", "inv/sphere/inversion.safetensors", "--out", "x.png") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: 'inv/sphere/inversion.safetensors' is an inversion that zoo3d invert saved, not a checkpoint; render "
        "it with `zoo3d render --inversion inv/sphere --out FILE` (export and view take --inversion too).")
    assert not (photo.parent / "inv2").exists()  # refused before anything was written
