"""benchmarks/learning_curve.py and benchmarks/manifold_layers.py take run folders: a RUN that is none (no such folder,
a run with no checkpoint, a checkpoint file where the curve needs the run) or, for manifold_layers, a run whose
generator draws no radiance maps (GRAM's) is refused in one sentence with exit status 2 before anything is drawn,
where the scripts stopped on an IndexError or an AttributeError traceback."""

from __future__ import annotations

import types

from conftest import benchmark_script as _script


def test_learning_curve_refuses_a_run_without_checkpoints_in_one_sentence(tmp_path, capsys):
    empty = tmp_path / "run"
    empty.mkdir()
    assert _script("learning_curve").main([str(empty), "--images", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not even the table's header
    assert err == f"Error: Run folder '{empty}' has no checkpoint yet (none that loads; it holds: nothing).\n"


def test_learning_curve_names_a_missing_run_and_wants_a_folder_not_a_checkpoint(tmp_path, capsys):
    script = _script("learning_curve")
    assert script.main([str(tmp_path / "gone"), "--images", "2"]) == 2
    assert capsys.readouterr().err == f"Error: Run folder or checkpoint '{tmp_path / 'gone'}' does not exist.\n"
    ckpt = tmp_path / "step_000000002.safetensors"
    ckpt.write_bytes(b"")
    assert script.main([str(ckpt)]) == 2
    assert capsys.readouterr().err == (
        f"Error: '{ckpt}' is no run folder, whose every checkpoint (checkpoints/step_<N>.safetensors) the curve "
        "draws; give the folder `zoo3d train` wrote.\n")


def test_manifold_layers_refuses_a_model_without_radiance_maps_before_drawing(monkeypatch, tmp_path, capsys):
    import zoo3d.runs

    gram = types.SimpleNamespace(generator=types.SimpleNamespace(), spec=types.SimpleNamespace(name="gram"), step=2)
    asked = []
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, device: asked.append((ref, device)) or gram)
    assert _script("manifold_layers").main([str(tmp_path / "gram-run")]) == 2
    out, err = capsys.readouterr()
    assert asked == [(str(tmp_path / "gram-run"), "cpu")] and out == ""
    assert err == (f"Error: '{tmp_path / 'gram-run'}' is a gram run, whose generator draws no radiance maps; this "
                   "script reads an Efficient GRAM generator's (a gram_inverter run).\n")


def test_manifold_layers_refuses_a_run_without_checkpoints(tmp_path, capsys):
    assert _script("manifold_layers").main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"Error: Run folder '{tmp_path}' has no checkpoint yet (none that loads; it holds: nothing).\n")


def test_every_run_is_checked_before_the_first_is_drawn(monkeypatch, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_000000002.safetensors").write_bytes(b"")  # listed, so taken as a run; never loaded
    assert _script("learning_curve").main([str(run), str(tmp_path / "gone"), "--images", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"Error: Run folder or checkpoint '{tmp_path / 'gone'}' does not exist.\n"

    import zoo3d.runs

    inverter = types.SimpleNamespace(generator=types.SimpleNamespace(radiance_maps=lambda *a: None),
                                     spec=types.SimpleNamespace(name="gram_inverter"), step=2)
    gram = types.SimpleNamespace(generator=types.SimpleNamespace(), spec=types.SimpleNamespace(name="gram"), step=2)
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, device: inverter if ref == "inverter-run" else gram)
    assert _script("manifold_layers").main(["inverter-run", "gram-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("Error: 'gram-run' is a gram run, whose generator draws no radiance maps;")
