"""A run scored against another dataset than the one it was trained on: ``zoo3d compare``'s distribution metrics
(``swd``, ``diversity``, ``detail``, ``fid``, ``kid``) measure the model's images against ``--data``, which defaults
to ``synthetic:heads``. A run trained on a folder of the user's own was scored against the synthetic heads without a
word, and nothing in the report said what the run had been trained on. The provenance now records the run's data
(its config's ``data.spec``) and a note names both datasets where they differ."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.harness import compare_models, load_metrics, training_record
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol
from zoo3d.launch import train_model
from zoo3d.runs import load_model

SMALL = ["--instances", "1", "--resolution", "16", "--set", "distribution_images=4", "--set", "epi_frames=8",
         "--device", "cpu"]


@pytest.fixture
def toy_run(monkeypatch, tmp_path):
    """A one-step run of the toy model, trained on its registered dataset ``toy:spheres``."""
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.setenv("COLUMNS", "200")
    with one_thread():
        yield train_model("toy", steps=1, progress=False)


def _note(trained: str, data: str, metrics: str = "detail", model: str = "toy") -> str:
    return (f"note: {metrics} of {model}: its run was trained on '{trained}', not on '{data}', the dataset it is "
            f"scored against (--data).")


def test_a_run_scored_against_other_data_says_so_and_records_its_own(toy_run, tmp_path, capsys):
    out = tmp_path / "res.json"
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--ckpt", f"toy={toy_run.run_dir}", "--metric",
                         "epi,detail", *SMALL, "--json", out)  # --data left at synthetic:heads
    assert code == 0, err
    assert _note("toy:spheres", "synthetic:heads") in err.splitlines(), err
    assert json.loads(out.read_text())["provenance"]["toy"]["data"] == "toy:spheres"


def test_the_runs_own_data_draws_no_note(toy_run, tmp_path, capsys):
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--ckpt", f"toy={toy_run.run_dir}", "--metric",
                         "detail", *SMALL, "--data", "toy:spheres?count=64")  # its options aside, the same dataset
    assert code == 0, err
    assert "trained on" not in err, err


def test_an_imported_release_names_its_presets_data_not_the_authors_so_none_is_claimed(toy_run, tmp_path):
    ckpt = toy_run.checkpoint
    with safe_open(str(ckpt), framework="pt") as fh:
        tensors, meta = {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())
    release = tmp_path / "imported.safetensors"
    save_file(tensors, str(release), metadata={**meta, "zoo3d.imported_from": "ffhq256.pkl"})
    assert training_record(load_model(str(ckpt)))["data"] == "toy:spheres"  # a loaded run, as the Python API hands it over
    assert training_record(load_model(str(release)))["data"] is None


@pytest.mark.parametrize("trained, data, noted", [
    ("/elsewhere/faces", "synthetic:heads", True),
    ("synthetic:heads?count=100", "heads", False),  # the registered dataset under its alias
    ("synthetic:heads", "/elsewhere/faces", True),
    (None, "/elsewhere/faces", False),  # no run to speak of (an oracle)
])
def test_only_a_dataset_metric_of_a_run_on_other_data_is_noted(trained, data, noted):
    from zoo3d.eval.distribution import generated_images

    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=4, epi_frames=8)
    reference = generated_images(TexturedSphereGenerator(True), 4, 16, 1.0, 0, "cpu")
    model = EvalModel("sphere", TexturedSphereGenerator(True), "run.safetensors", "0" * 64, data=trained)
    options = {"data": data, "real_images": {16: reference}}
    result = compare_models([model], load_metrics(["epi", "detail"]), protocol, "cpu", options=options)
    said = [n for n in result["notes"] if "trained on" in n]  # any wording: a case not noted must have none
    assert said == ([_note(trained, data, model="sphere")[len("note: "):]] if noted else []), result["notes"]
    assert result["provenance"]["sphere"]["data"] == trained
    epi_only = compare_models([model], load_metrics(["epi"]), protocol, "cpu", options=options)
    assert not any("trained on" in n for n in epi_only["notes"])  # epi never reads --data


def test_the_same_folder_written_another_way_is_the_same_dataset(tmp_path, monkeypatch):
    from zoo3d.eval.harness import same_dataset

    (tmp_path / "faces").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "faces")
    monkeypatch.chdir(tmp_path)
    assert same_dataset(str(tmp_path / "faces"), "faces") and same_dataset(str(tmp_path / "faces"), "./link/")
    assert not same_dataset(str(tmp_path / "faces"), "synthetic:heads")
    assert not same_dataset(str(tmp_path / "faces"), str(tmp_path / "other"))
