"""How each compared run was trained: checkpoints record the device a run trained on (``zoo3d.device``) and the
``--steps`` cap it ran under (``zoo3d.steps_cap``), but ``zoo3d compare``'s provenance named only the checkpoint, its
sha256 and its data, so a run cut at ``--steps 500`` on the CPU read like one trained to its recipe's end on a GPU.
The provenance (JSON and Markdown) now carries both, null where there is no zoo3d run or the checkpoint predates
them (docs/metrics.md). So does how far it trained: the checkpoint's step, its recipe's length and how many processes
trained it (``zoo3d.world_size``), without which a 200-step run read like a 20000-step one."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics, training_record
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol
from zoo3d.launch import train_model
from zoo3d.runs import load_model

SMALL = ["--instances", "1", "--resolution", "16", "--set", "epi_frames=8", "--device", "cpu"]


@pytest.fixture
def toy_run(monkeypatch, tmp_path):
    """A run of the toy model cut at --steps 1, on the CPU."""
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.setenv("COLUMNS", "200")
    with one_thread():
        yield train_model("toy", steps=1, device="cpu", progress=False)


def _rewritten(checkpoint, path, drop=(), **meta_changes):
    """A copy of ``checkpoint`` at ``path`` with metadata keys ``drop`` removed and ``meta_changes`` set."""
    with safe_open(str(checkpoint), framework="pt") as fh:
        tensors, meta = {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())
    meta = {k: v for k, v in {**meta, **meta_changes}.items() if k not in drop}
    save_file(tensors, str(path), metadata=meta)
    return path


def test_compare_records_the_device_and_the_steps_cap_of_each_run(toy_run, tmp_path, capsys):
    out, report = tmp_path / "res.json", tmp_path / "report.md"
    code, _, err = zoo3d(capsys, "compare", "--models", "toy,oracle", "--ckpt", f"toy={toy_run.run_dir}",
                         "--metric", "epi", *SMALL, "--json", out, "--markdown", report)
    assert code == 0, err
    provenance = json.loads(out.read_text())["provenance"]
    assert (provenance["toy"]["trained_device"], provenance["toy"]["steps_cap"]) == ("cpu", 1)
    assert (provenance["oracle"]["trained_device"], provenance["oracle"]["steps_cap"]) == (None, None)
    # how far it trained: step 1 of the toy recipe's one stage of 6 steps, on one process
    assert [provenance["toy"][k] for k in ("step", "recipe_steps", "world_size")] == [1, 6, 1]
    assert [provenance["oracle"][k] for k in ("step", "recipe_steps", "world_size")] == [None, None, None]
    lines = report.read_text().splitlines()
    toy = next(line for line in lines if line.startswith("- **toy**"))
    assert ", trained on `toy:spheres`, trained on device `cpu`, --steps cap `1`, sha256 " in toy, toy
    assert toy.startswith(f"- **toy**: checkpoint `{toy_run.checkpoint}` at step 1 of its recipe's 6 (1 process), "
                          "trained on `toy:spheres`"), toy
    oracle = next(line for line in lines if line.startswith("- **oracle**"))
    assert "device" not in oracle and "--steps" not in oracle and " step " not in oracle, oracle


@pytest.mark.parametrize("drop, changes, expected, length", [
    ((), {"zoo3d.steps_cap": "none", "zoo3d.device": "cuda:0 (NVIDIA H100 80GB HBM3)", "zoo3d.step": "6"},
     ("cuda:0 (NVIDIA H100 80GB HBM3)", "none"), (6, 6, 1)),  # trained to its recipe's end on a GPU
    ((), {"zoo3d.steps_cap": "500", "zoo3d.world_size": "4"}, ("cpu", 500), (1, 6, 4)),  # on four processes
    (("zoo3d.device", "zoo3d.steps_cap", "zoo3d.world_size"), {}, (None, None), (1, 6, None)),  # before the keys
    ((), {"zoo3d.imported_from": "ffhq256.pkl", "zoo3d.step": "0"}, (None, None),
     (0, None, None)),  # the authors' run, not zoo3d's: its preset's recipe is not the one it trained with
])
def test_the_record_is_the_checkpoints_own(toy_run, tmp_path, drop, changes, expected, length):
    path = _rewritten(toy_run.checkpoint, tmp_path / "copy.safetensors", drop, **changes)
    loaded = load_model(str(path))
    record = training_record(loaded)
    assert (record["trained_device"], record["steps_cap"]) == expected  # a loaded run, as the Python API hands it over
    protocol = make_protocol("small", instances=1, resolution=16, epi_frames=8)
    for model in (loaded, load_eval_model("toy", str(path), "cpu")):  # compare's own load, too
        provenance = compare_models([model], load_metrics(["epi"]), protocol, "cpu")["provenance"]["toy"]
        assert (provenance["trained_device"], provenance["steps_cap"]) == expected
        assert (provenance["step"], provenance["recipe_steps"], provenance["world_size"]) == length


def test_an_eval_model_carries_what_it_is_given():
    protocol = make_protocol("small", instances=1, resolution=16, epi_frames=8)
    model = EvalModel("sphere", TexturedSphereGenerator(True), "run.safetensors", "0" * 64, trained_device="mps",
                      steps_cap=20, step=20, recipe_steps=300, world_size=2)
    provenance = compare_models([model], load_metrics(["epi"]), protocol, "cpu")["provenance"]["sphere"]
    assert (provenance["trained_device"], provenance["steps_cap"]) == ("mps", 20)
    assert (provenance["step"], provenance["recipe_steps"], provenance["world_size"]) == (20, 300, 2)


def test_a_part_from_another_run_is_named_with_its_checkpoint_step_and_hash(toy_run, tmp_path):
    """A run that took a part from another run (GRAM-HD's LR GRAM from generator.lowres_run) records it in its
    training state; the provenance, JSON and Markdown, says which checkpoint, step and sha256. Other state stays out."""
    from zoo3d.eval.harness import write_markdown

    state = {"sources.generator.lowres.checkpoint": "/runs/gram-1/checkpoints/step_000001400.safetensors",
             "sources.generator.lowres.step": 1400, "sources.generator.lowres.sha256": "ab" * 32, "other": 3,
             "lr_schedule.generator.scale": 0.5}
    path = _rewritten(toy_run.checkpoint, tmp_path / "copy.safetensors", **{"zoo3d.state": json.dumps(state)})
    protocol = make_protocol("small", instances=1, resolution=16, epi_frames=8)
    result = compare_models([load_model(str(path))], load_metrics(["epi"]), protocol, "cpu")
    assert result["provenance"]["toy"]["sources"] == {"generator.lowres": {
        "checkpoint": "/runs/gram-1/checkpoints/step_000001400.safetensors", "step": 1400, "sha256": "ab" * 32}}
    write_markdown(result, tmp_path / "report.md")
    toy = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("- **toy**"))
    assert (", `generator.lowres` from `/runs/gram-1/checkpoints/step_000001400.safetensors` (step 1400, sha256 "
            f"`{'ab' * 32}`)") in toy, toy
    assert "sources" not in compare_models([load_model(str(toy_run.checkpoint))], load_metrics(["epi"]), protocol,
                                           "cpu")["provenance"]["toy"]  # nothing recorded: no key
