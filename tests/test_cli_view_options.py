"""``zoo3d view``'s options reach the viewer's source and server (docs/freeview.md, ``zoo3d view --help``): the
run and its loading options, the first seed and psi, the port on 127.0.0.1; the URL it prints is the server's, and
Ctrl-C stops and closes it. The scene source is a recording stand-in, so no model is loaded and no browser starts."""

from __future__ import annotations

import errno
import os
import socket
import types

import pytest

from conftest import run_in_process as zoo3d


@pytest.fixture
def viewer(monkeypatch):
    """Records what zoo3d view hands to the scene source, the model loader and the server."""
    seen = {"served": 0, "closed": 0}

    def viewer_source(run, loaded_factory, seed, psi, given=()):
        seen.update(run=run, seed=seed, psi=psi, given=list(given), loaded=loaded_factory())
        return "the source"

    def load_model(run, model=None, device=None, ema=True):
        seen.update(load=dict(run=run, model=model, device=device, ema=ema))
        return "the loaded model"

    class Server:
        server_address = ("127.0.0.1", 4321)

        def serve_forever(self):
            seen["served"] += 1
            seen["serving"] = self.source
            raise seen.get("interrupt", KeyboardInterrupt)()

        def server_close(self):
            seen["closed"] += 1

    def make_server(source, port=0, host="127.0.0.1"):
        seen.update(server=dict(source=source, port=port, host=host))
        return Server()

    monkeypatch.setattr("zoo3d.freeview.commands.viewer_source", viewer_source)
    monkeypatch.setattr("zoo3d.runs.load_model", load_model)
    monkeypatch.setattr("zoo3d.freeview.server.make_server", make_server)
    return seen


def test_defaults_seed_0_psi_07_any_free_port_and_the_ema_generator_on_auto(viewer, capsys):
    code, out, err = zoo3d(capsys, "view", "runs/r")
    assert code == 0, err
    assert viewer["run"] == "runs/r" and viewer["seed"] == 0 and viewer["psi"] == 0.7 and viewer["given"] == []
    assert viewer["load"] == dict(run="runs/r", model=None, device="auto", ema=True)
    assert viewer["loaded"] == "the loaded model"
    # the port is taken with no source yet (a busy one is refused before loading), then it serves the run's
    assert viewer["server"] == dict(source=None, port=0, host="127.0.0.1") and viewer["serving"] == "the source"
    assert out == "zoo3d viewer at http://127.0.0.1:4321/ (Ctrl-C to stop)\nStopped.\n"
    assert viewer["served"] == 1 and viewer["closed"] == 1


def test_each_option_reaches_the_source_the_loader_and_the_server(viewer, capsys):
    code, _, err = zoo3d(capsys, "view", "runs/r", "--no-ema", "--psi", "0.25", "--seed", "17", "--model", "gram_hd",
                         "--device", "cpu", "--port", "8123")
    assert code == 0, err
    assert viewer["seed"] == 17 and viewer["psi"] == 0.25
    # the generator options typed, in a fixed order (a .glb refuses them); --device and --port are not among them
    assert viewer["given"] == ["--model", "--seed", "--psi", "--no-ema"]
    assert viewer["load"] == dict(run="runs/r", model="gram_hd", device="cpu", ema=False)
    assert viewer["server"]["port"] == 8123
    for args, said in ((("--seed", "2147483648"), "--seed"), (("--port", "65536"), "--port"),
                       (("--psi", "1.5"), "--psi")):  # out of the ranges --help gives: refused before any loading
        viewer.pop("load", None), viewer.pop("server", None)
        code, _, err = zoo3d(capsys, "view", "runs/r", *args)
        assert code == 2 and said in err and "load" not in viewer and "server" not in viewer


def test_a_model_name_alone_is_viewed_and_a_typed_default_still_counts_as_typed(viewer, capsys):
    code, _, err = zoo3d(capsys, "view", "--model", "oracle", "--seed", "0")
    assert code == 0, err
    assert viewer["run"] is None and viewer["load"]["model"] == "oracle" and viewer["given"] == ["--model", "--seed"]


def test_a_server_that_stops_by_itself_is_closed_without_stopped(viewer, capsys):
    class Done(Exception):
        pass

    viewer["interrupt"] = Done
    with pytest.raises(Done):
        zoo3d(capsys, "view", "runs/r")
    assert viewer["closed"] == 1 and "Stopped." not in capsys.readouterr().out


def test_the_printed_url_is_the_real_servers_and_a_taken_port_is_one_sentence(monkeypatch, capsys):
    from zoo3d.freeview import server as server_module

    monkeypatch.setattr("zoo3d.freeview.commands.viewer_source", lambda *a, **k: types.SimpleNamespace())
    made = []
    real = server_module.make_server

    def make_server(source, port=0, host="127.0.0.1"):
        server = real(source, port)
        server.serve_forever = lambda: (_ for _ in ()).throw(KeyboardInterrupt)
        made.append(server)
        return server

    monkeypatch.setattr(server_module, "make_server", make_server)
    code, out, err = zoo3d(capsys, "view", "--model", "oracle")
    assert code == 0, err
    port = made[0].server_address[1]
    assert port > 0 and out.splitlines()[0] == f"zoo3d viewer at http://127.0.0.1:{port}/ (Ctrl-C to stop)"
    assert made[0].socket.fileno() == -1  # closed after Ctrl-C

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        code, out, err = zoo3d(capsys, "view", "--model", "oracle", "--port", busy)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"Error: Cannot listen on 127.0.0.1:{busy} ({os.strerror(errno.EADDRINUSE)}); "
                           "pass another --port, or 0.")


def test_an_inversion_is_served_from_its_folder_on_the_device_asked(viewer, monkeypatch, capsys, tmp_path):
    """``view --inversion`` hands the folder and device to the inversion's scene source, not to a run's."""
    (tmp_path / "face").mkdir()
    monkeypatch.setattr("zoo3d.freeview.commands.inversion_source",
                        lambda folder, device: viewer.update(inversion=(folder, device)) or "the inversion")
    code, out, err = zoo3d(capsys, "view", "--inversion", str(tmp_path / "face"), "--device", "cpu", "--port", "0")
    assert code == 0, err
    assert viewer["inversion"] == (str(tmp_path / "face"), "cpu") and viewer["serving"] == "the inversion"
    assert "run" not in viewer and "load" not in viewer


@pytest.mark.parametrize("args, named", [(["--seed", "3"], "--seed does"), (["--psi", "0.5"], "--psi does"),
                                         (["runs/r", "--model", "gram", "--no-ema"], "RUN, --model, --no-ema do")])
def test_what_chooses_another_instance_is_refused_beside_an_inversion(viewer, capsys, tmp_path, args, named):
    (tmp_path / "face").mkdir()
    code, out, err = zoo3d(capsys, "view", "--inversion", str(tmp_path / "face"), *args)
    assert code == 2 and "server" not in viewer  # before the port is taken
    one = named.endswith("does")
    assert err.strip() == (f"Error: {named} not apply to --inversion, which shows the inverted image with the weights "
                           f"it was inverted with (the run and EMA its header names, its own latent); leave "
                           f"{'it' if one else 'them'} out.")
