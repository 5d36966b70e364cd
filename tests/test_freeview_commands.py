"""zoo3d export --format glb|gltf, zoo3d render --cached and zoo3d view on a small trained GRAM-HD run.

The glTF files are checked with two maintained glTF readers (pygltflib's validator and trimesh's loader);
the viewer's server is checked over HTTP, and the page in a real headless Chromium when one is installed.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from headless_chromium import chromium_driver
from PIL import Image

from zoo3d.cli.main import cli, main
from zoo3d.freeview.cache import cache_instance
from zoo3d.freeview.render import CachedRenderer
from zoo3d.runs import load_model

# A GRAM-HD small enough to train two steps (one per stage) in seconds.
SHRINK = ["generator.lowres.resolution=8", "generator.lowres.manifold.hidden=16", "generator.lowres.manifold.num_levels=6",
          "generator.lowres.radiance.z_dim=8", "generator.lowres.radiance.mapping_hidden=16",
          "generator.lowres.radiance.hidden=16", "generator.lowres.radiance.truncation_samples=16",
          "generator.lowres.render.num_samples=8", "generator.resolution=16", "generator.lowres.radiance.feature_dim=4",
          "generator.foreground_sr.nf=8", "generator.foreground_sr.nb=1", "generator.foreground_sr.gc=4",
          "generator.foreground_sr.up_channels=[8]", "generator.foreground_sr.style_hidden=16",
          "generator.background_sr.nf=8", "generator.background_sr.nb=1", "generator.background_sr.gc=4",
          "generator.background_sr.up_channels=[8]", "stages.gram_hd.stage1.steps=1", "stages.gram_hd.stage2.steps=1",
          "stages.gram_hd.stage1.batch_size=2",
          "stages.gram_hd.stage2.batch_size=2", "discriminator.channel_scale=0.03125", "discriminator.patch_ndf=4",
          "discriminator.patch_layers=1", "train.sample_every=0", "train.sample_seeds=[0]"]
SEED = 1


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("freeview") / "run"
    args = ["train", "gram-hd", "--steps", "2", "--out", str(out), "--quiet", "--device", "cpu"]
    for s in SHRINK:
        args += ["--set", s]
    invoke(*args)
    return out


@pytest.fixture(scope="module")
def cache(run):
    loaded = load_model(str(run), device="cpu")
    assert bool(loaded.generator.super_resolve)  # stage 2 ran: the cache holds the HR maps
    return cache_instance(loaded.generator, SEED, psi=0.7)


@pytest.fixture(scope="module")
def glb(run, tmp_path_factory):
    path = tmp_path_factory.mktemp("glb") / "head.glb"
    result = invoke("export", str(run), "--seed", str(SEED), "--out", str(path))
    assert "manifold layers + background" in result.output
    return path


# ------------------------------------------------------------------------------------- export
@pytest.mark.filterwarnings("ignore:pygltf.utils.validator is a provisional function")
def test_glb_validates_and_holds_the_cache_layers_back_to_front(glb, cache):
    import trimesh
    from pygltflib import GLTF2
    from pygltflib.validator import validate

    doc = GLTF2().load(str(glb))
    validate(doc)  # raises on an invalid document
    names = [n.name for n in doc.nodes if n.mesh is not None]
    assert names == [lay.name for lay in reversed(cache.layers)]  # background first: the order to blend in
    assert [doc.nodes[i].extras["zoo3d"]["draw_order"] for i in range(len(names))] == list(range(len(names)))
    modes = {m.name: m.alphaMode for m in doc.materials}
    assert modes.pop("background") == "OPAQUE" and set(modes.values()) == {"BLEND"}
    assert all(not m.doubleSided and "KHR_materials_unlit" in m.extensions for m in doc.materials)
    assert doc.asset.extras["zoo3d"]["seed"] == SEED and doc.asset.extras["zoo3d"]["model"] == "gram_hd"
    assert doc.cameras[0].perspective.yfov == pytest.approx(np.radians(12.0))

    scene = trimesh.load(str(glb), force="scene", process=False)
    for lay in cache.layers:
        mesh = scene.geometry[lay.name]
        assert np.allclose(mesh.vertices, lay.vertices.numpy(), atol=1e-7)
        assert np.array_equal(mesh.faces, lay.faces.numpy())
        image = np.asarray(mesh.visual.material.baseColorTexture)
        expected = (lay.texture.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(image, expected[..., :image.shape[-1]])
        assert np.allclose(mesh.visual.uv[:, 0], lay.uvs[:, 0].numpy(), atol=1e-6)


def test_gltf_text_file_holds_the_same_document(run, glb, tmp_path):
    import trimesh

    path = tmp_path / "head.gltf"
    invoke("export", str(run), "--seed", str(SEED), "--out", str(path))
    doc = json.loads(path.read_text())
    assert doc["asset"]["version"] == "2.0" and doc["buffers"][0]["uri"].startswith("data:application/octet-stream")
    a = trimesh.load(str(path), force="scene", process=False)
    b = trimesh.load(str(glb), force="scene", process=False)
    assert sorted(a.geometry) == sorted(b.geometry)
    assert all(np.array_equal(a.geometry[k].vertices, b.geometry[k].vertices) for k in a.geometry)


def test_a_full_disk_during_a_gltf_write_leaves_the_old_file_and_says_so(cache, glb, tmp_path, monkeypatch):
    import errno

    from zoo3d.fileio import WriteError
    from zoo3d.freeview.gltf import write_gltf

    path = tmp_path / "head.glb"
    shutil.copy(glb, path)
    before = path.read_bytes()

    def full(tmp):  # the write is cut short where the disk fills
        with open(tmp, "r+b") as fh:
            fh.truncate(100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("zoo3d.fileio._fsync", full)
    with pytest.raises(WriteError, match="the disk is full; nothing was half-written"):
        write_gltf(cache, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["head.glb"]
    (tmp_path / "afile").write_text("")
    with pytest.raises(WriteError, match="is a file, not a folder"):
        write_gltf(cache, tmp_path / "afile" / "x.gltf")
    # What a write cut short elsewhere leaves is refused by the viewer, not served.
    from zoo3d.errors import UserError
    from zoo3d.freeview.server import FileSource

    monkeypatch.undo()
    (tmp_path / "cut.glb").write_bytes(before[:len(before) // 2])
    with pytest.raises(UserError, match=r"is truncated or corrupt: its header says [\d,]+ bytes, the file has"):
        FileSource(tmp_path / "cut.glb")


def _with_metadata(glb_data: bytes, edit) -> bytes:
    """The GLB with ``edit`` applied to its asset.extras (JSON chunk rewritten, binary chunk kept)."""
    import struct

    length = struct.unpack_from("<I", glb_data, 12)[0]
    doc = json.loads(glb_data[20:20 + length])
    doc["asset"]["extras"] = edit(doc["asset"]["extras"])
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + glb_data[20 + length:]
    return struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body


def _edit_zoo3d(key, value):
    def edit(extras):
        if isinstance(key, tuple):
            extras["zoo3d"][key[0]][key[1]] = value
        else:
            extras["zoo3d"][key] = value
        return extras
    return edit


@pytest.mark.parametrize("edit, problem", [
    (_edit_zoo3d(("camera_prior", "foo"), 1), "camera_prior.foo: extra inputs are not permitted"),
    (_edit_zoo3d(("camera_prior", "fov"), 0), "camera_prior.fov: input should be greater than 0"),
    (_edit_zoo3d("camera_prior", "x"), "camera_prior: input should be a valid dictionary"),
    (_edit_zoo3d("seed", "3"), "seed: '3' is not a whole number"),
    (_edit_zoo3d("input_view", {"yaw": 0.1}), "input_view: {'yaw': 0.1} is no view (a finite yaw and pitch)"),
    (_edit_zoo3d("input_view", {"yaw": float("nan"), "pitch": 0}), "input_view: {'yaw': nan, 'pitch': 0} is no view"),
    (_edit_zoo3d("input_view", {"yaw": True, "pitch": 0}), "input_view: {'yaw': True, 'pitch': 0} is no view"),
    (_edit_zoo3d("input_view", [0.2, -0.05]), "input_view: [0.2, -0.05] is no view"),
    (lambda extras: {"zoo3d": []}, ": not an object"),
])
def test_a_glb_whose_zoo3d_metadata_is_malformed_is_refused_naming_the_file(glb, tmp_path, edit, problem):
    """zoo3d view of such a file was a raw pydantic ValidationError, TypeError or AttributeError."""
    from zoo3d.errors import UserError
    from zoo3d.freeview.commands import viewer_source

    path = tmp_path / "odd.glb"
    path.write_bytes(_with_metadata(glb.read_bytes(), edit))
    with pytest.raises(UserError) as refused:
        viewer_source(str(path), None, 0, 0.7)
    assert str(refused.value).startswith(f"'{path}' has zoo3d metadata the viewer cannot use (asset.extras.zoo3d")
    assert problem in str(refused.value) and str(refused.value).endswith("write it again with zoo3d export.")


def test_a_glb_whose_json_is_not_an_object_is_refused_as_not_gltf(tmp_path):
    """A JSON chunk holding a list or a number parsed, then failed with AttributeError."""
    import struct

    from zoo3d.errors import UserError
    from zoo3d.freeview.server import FileSource

    text = b"[1]   "  # padded to 4 bytes, as a GLB chunk is
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    path = tmp_path / "list.glb"
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
    with pytest.raises(UserError, match=r"'.*list\.glb' is not a binary glTF 2\.0 file \(\.glb\): its JSON chunk is "
                                        r"not an object\."):
        FileSource(path)


def test_a_glb_without_zoo3d_metadata_opens_at_the_default_prior(glb, tmp_path):
    """glTF lets extras be any value; a list (no zoo3d object in it) raised AttributeError."""
    from zoo3d.cameras import CameraPrior
    from zoo3d.freeview.commands import viewer_source

    path = tmp_path / "other.glb"
    path.write_bytes(_with_metadata(glb.read_bytes(), lambda extras: ["made elsewhere"]))
    info = viewer_source(str(path), None, 0, 0.7).info()
    assert info["camera_prior"] == CameraPrior().model_dump() and info["seed"] is None


def test_models_without_manifolds_and_unknown_suffixes_are_refused_in_one_sentence(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", "oracle", "--out", str(tmp_path / "o.glb")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "cannot be cached as textured layers" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["export", "--model", "oracle", "--format", "glb", "--out", str(tmp_path / "head")])
    assert "needs an --out file named *.glb" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- render --cached
def test_render_cached_writes_the_frames_the_cache_renders(run, cache, tmp_path):
    from zoo3d.cameras import yaw_sweep

    out = tmp_path / "frames"
    result = invoke("render", str(run), "--seed", str(SEED), "--cached", "--rasterizer", "torch", "--frames", "3",
                    "--trajectory", "yaw-sweep", "--yaw-range", "0.3", "--resolution", "32", "--out", str(out))
    assert "torch rasterizer" in result.output and "ms per frame" in result.output
    frames = sorted(out.glob("*.png"))
    assert len(frames) == 3
    cams = yaw_sweep(3, yaw_range=0.3, pitch=0.0)
    expected = CachedRenderer(cache, "torch").render(cams[2], 32).rgb[0]
    written = torch.from_numpy(np.array(Image.open(frames[2]).convert("RGB"))).permute(2, 0, 1) / 127.5 - 1
    assert psnr(written, expected.clamp(-1, 1)) > 45  # the same image, rounded to 8 bits


# ------------------------------------------------------------------------------------- viewer server
def _serve(source):
    from zoo3d.freeview.server import make_server, url_of

    server = make_server(source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_server_serves_the_page_three_js_and_the_file_and_nothing_else(glb):
    from zoo3d.freeview.server import FileSource

    server, url = _serve(FileSource(glb))
    try:
        status, page = _get(url)
        assert status == 200 and b"importmap" in page and b"three.module.js" in page
        status, js = _get(url + "static/vendor/three/build/three.module.js")
        assert status == 200 and b"REVISION" in js or b"three.core.js" in js
        status, licence = _get(url + "static/vendor/three/LICENSE")
        assert status == 200 and b"MIT License" in licence
        status, info = _get(url + "api/info")
        info = json.loads(info)
        assert status == 200 and info["camera_prior"]["yaw_std"] == 0.3 and info["can_generate"] is False
        assert info["view_limits"] == {"yaw": [-0.6, 0.6], "pitch": [-0.31, 0.31]}  # the Gaussian's 2 std
        assert _get(url + "scene.glb") == (200, glb.read_bytes())
        status, body = _get(url + "scene.glb?seed=99")
        assert status == 400 and "cannot make other seeds" in json.loads(body)["error"]
        for escape in ("static/../server.py", "static/..%2f..%2fcache.py", "static/%2e%2e/%2e%2e/freeview/gltf.py",
                       "static//etc/passwd", "static/%2Fetc%2Fpasswd", "../../../../etc/passwd", "etc/passwd",
                       "static/vendor/three/../../../__init__.py"):
            assert _get(url + escape)[0] == 404, escape
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            request = urllib.request.Request(url + "scene.glb", data=b"x" if method != "TRACE" else None,
                                             method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 405 and "is not supported" in json.loads(refused.value.read())["error"], method
    finally:
        server.shutdown()
        server.server_close()


def test_static_names_no_file_can_have_are_404_without_the_server_path(glb):
    """A NUL byte or an over-long name was a 500 whose message held the static folder's absolute path."""
    from zoo3d.freeview.server import STATIC_ROOT, FileSource

    server, url = _serve(FileSource(glb))
    try:
        for name in ("static/%00", "static/viewer.js%00.png", "static/" + "a" * 300, "static/vendor/" + "b/" * 2100):
            status, body = _get(url + name)
            assert status == 404 and json.loads(body)["error"].startswith("Not found: /static/"), name[:40]
            assert str(STATIC_ROOT).encode() not in body
        assert _get(url + "static/viewer.js")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_the_viewer_opens_at_the_prior_centre_view_not_its_raw_pitch_setting():
    # the page opened CARLA at pitch_mean 0.829, below the 0.556 that sample, render and the glTF camera use
    from types import SimpleNamespace

    from zoo3d.cameras import CameraPrior
    from zoo3d.freeview.server import GeneratorSource

    carla = CameraPrior(distribution="spherical_uniform", pitch_mean=0.8290, pitch_std=0.7418, yaw_std=3.14159)
    info = GeneratorSource(SimpleNamespace(camera_prior=carla)).info()
    assert info["centre_view"]["pitch"] == pytest.approx(0.556, abs=1e-3) and info["centre_view"]["yaw"] == 0.0
    assert info["camera_prior"]["pitch_mean"] == 0.8290
    viewer = (Path(__file__).resolve().parents[1] / "zoo3d/freeview/static/viewer.js").read_text()
    assert "info.centre_view.pitch" in viewer and "prior.pitch_mean" not in viewer


def test_server_makes_any_seed_of_a_run(run):
    from zoo3d.freeview.commands import viewer_source
    from zoo3d.freeview.gltf import read_glb_json

    source = viewer_source(str(run), lambda: load_model(str(run), device="cpu"), SEED, 0.7)
    server, url = _serve(source)
    try:
        status, data = _get(url + "scene.glb?seed=5")
        assert status == 200 and read_glb_json(data)["asset"]["extras"]["zoo3d"]["seed"] == 5
        assert json.loads(_get(url + "api/info")[1])["can_generate"] is True
        status, body = _get(url + "scene.glb?seed=five")
        assert status == 400 and "whole number" in json.loads(body)["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_seed_that_cannot_be_made_is_answered_in_json_not_dropped(run, monkeypatch):
    from zoo3d.errors import UserError
    from zoo3d.freeview.server import GeneratorSource

    def glb_bytes(cache):
        if cache.meta["seed"] == 7:
            raise UserError("The cache holds no triangles; nothing to export.")
        if cache.meta["seed"] == 8:
            raise RuntimeError("out of memory")
        raise AssertionError("only seeds 7 and 8 are asked for")

    monkeypatch.setattr("zoo3d.freeview.gltf.glb_bytes", glb_bytes)
    server, url = _serve(GeneratorSource(load_model(str(run), device="cpu").generator, seed=SEED))
    try:
        status, body = _get(url + "scene.glb?seed=7")
        assert status == 400 and json.loads(body)["error"] == "The cache holds no triangles; nothing to export."
        status, body = _get(url + "scene.glb?seed=8")
        assert status == 500 and json.loads(body)["error"] == "RuntimeError: out of memory"
    finally:
        server.shutdown()
        server.server_close()


def test_view_refuses_what_a_glb_file_would_ignore(glb, tmp_path, capsys, monkeypatch):
    from zoo3d.freeview import server as server_module

    real = server_module.make_server

    def serve(*args, **kwargs):  # the port is taken first; serving is what must not happen
        server = real(*args, **kwargs)
        server.serve_forever = lambda *a: (_ for _ in ()).throw(AssertionError("the viewer was started"))
        return server

    monkeypatch.setattr(server_module, "make_server", serve)
    for extra, said in ((["--seed", "5"], "--seed chooses what a generator draws"),
                        (["--no-ema"], "view the run with it instead"),
                        (["--psi", "0.1", "--model", "gram"], "--model and --psi choose what"),
                        (["--seed", str(2**31)], "2147483648 is not in the range")):
        with pytest.raises(SystemExit) as exit_info:
            main(["view", str(glb), *extra])
        assert exit_info.value.code != 0 and said in capsys.readouterr().err, extra
    (tmp_path / "head.gltf").write_text("{}")
    with pytest.raises(SystemExit):
        main(["view", str(tmp_path / "head.gltf")])
    assert "The viewer reads binary glTF (.glb)" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- viewer in a browser
@pytest.fixture(scope="module")
def browser():
    yield from chromium_driver("800,900", browser_logs=True)


def _wait(driver, script: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}; viewer state "
                         f"{driver.execute_script('return window.zoo3dViewer')}")


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_viewer_page_draws_the_glb_as_zoo3d_renders_the_cache(browser, glb, cache):
    from zoo3d.cameras import Camera
    from zoo3d.freeview.server import FileSource

    server, url = _serve(FileSource(glb))
    try:
        browser.get(url + "?yaw=0&pitch=0&size=128")
        _wait(browser, "return document.body.dataset.state === 'ready'")
        state = browser.execute_script("return window.zoo3dViewer")
        assert state["errors"] == [] and _severe(browser) == []
        data = browser.execute_script("return document.getElementById('canvas').toDataURL('image/png')")
        shot = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")
        shot = torch.from_numpy(np.asarray(shot.resize((64, 64), Image.BILINEAR)).copy()).permute(2, 0, 1)
        frontal = Camera.from_angles(0.0, 0.0, 1.0, 12.0)
        ours = (CachedRenderer(cache, "torch", order="layer").render(frontal, 128).rgb[0].clamp(-1, 1) + 1) * 127.5
        ours = torch.nn.functional.interpolate(ours[None], size=(64, 64), mode="bilinear", antialias=True)[0]
        assert psnr(shot / 127.5 - 1, ours / 127.5 - 1) >= 25
        _wait(browser, "return /^\\d+ fps$/.test(document.getElementById('fps').textContent)")
    finally:
        server.shutdown()
        server.server_close()


def test_viewer_url_values_that_are_not_numbers_open_the_default_view(browser, glb):
    """?yaw=abc, ?pitch=abc and ?size=abc were NaN: the page said "yaw NaN" on a 0 x 0 canvas, yet "ready"."""
    from zoo3d.freeview.server import FileSource

    server, url = _serve(FileSource(glb))
    try:
        for query in ("?yaw=abc&pitch=abc&size=abc", "?yaw=&pitch=Infinity&size=1e999"):
            browser.get(url + query)
            _wait(browser, "return document.body.dataset.state === 'ready'")
            state = browser.execute_script("return window.zoo3dViewer")
            assert state["yaw"] == 0 and state["pitch"] == 0 and state["errors"] == [], query  # the centre view
            assert browser.execute_script("return document.getElementById('pose').textContent") == \
                "yaw 0.00  pitch 0.00"
            assert browser.execute_script("return document.getElementById('canvas').width") == 512, query
    finally:
        server.shutdown()
        server.server_close()


def test_viewer_orbits_within_the_prior_and_the_seed_box_fetches_another_instance(browser, run):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from zoo3d.freeview.commands import viewer_source

    source = viewer_source(str(run), lambda: load_model(str(run), device="cpu"), SEED, 0.7)
    server, url = _serve(source)
    try:
        browser.get(url + "?size=128")
        _wait(browser, "return document.body.dataset.state === 'ready'")
        assert browser.execute_script("return window.zoo3dViewer.seed") == SEED
        canvas = browser.find_element(By.ID, "canvas")
        ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(60, 0).release().perform()
        yaw = browser.execute_script("return window.zoo3dViewer.yaw")
        assert 0.5 < yaw <= 0.6 + 1e-9  # dragged far right: stopped at mean + 2 std of the prior's yaw
        box = browser.find_element(By.ID, "seed")
        box.clear()
        box.send_keys("7")
        browser.find_element(By.ID, "go").click()
        _wait(browser, "return window.zoo3dViewer.seed === 7")
        assert browser.execute_script("return window.zoo3dViewer.errors") == [] and _severe(browser) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_texture_resolution_the_model_does_not_bake_is_noted_not_dropped(run, cache, tmp_path):
    """GRAM-HD keeps its own maps, so --texture-resolution 16 wrote 253-pixel textures without a word."""
    own = cache.map_resolution  # the HR maps' side, not the stored textures' (ring and magnification added)
    result = invoke("export", str(run), "--seed", str(SEED), "--texture-resolution", str(own + 8),
                    "--out", str(tmp_path / "h.glb"))
    assert f"note: model 'gram_hd' keeps its own {own}-pixel maps; --texture-resolution sets the side" \
           in result.output
    result = invoke("export", str(run), "--seed", str(SEED), "--texture-resolution", str(own),
                    "--out", str(tmp_path / "same.glb"))
    assert "note:" not in result.output  # asked for what it has: nothing to say
