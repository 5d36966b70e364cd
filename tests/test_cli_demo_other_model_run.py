"""``zoo3d demo --out DIR`` continues the demo model's run in DIR. A folder that holds a run of another model is
refused with the sentence `zoo3d train --resume` gives, before anything is trained, and without the "Continuing the
demo run in DIR" line the demo printed first, which said the opposite of the refusal that followed."""

from __future__ import annotations

from pathlib import Path

from conftest import run_in_process as zoo3d
from test_cli_demo_job import stand_in  # noqa: F401 - the recording stand-ins for the training and the generator


def test_a_run_of_another_model_is_refused_without_saying_it_continues(stand_in, capsys):  # noqa: F811
    Path("d").mkdir()
    Path("d/config.yaml").write_text("model: gram\ngenerator: {resolution: 32}\n")
    code, out, err = zoo3d(capsys, "demo", "--out", "d", "--steps", "2")
    assert code == 2 and not stand_in.trained and not stand_in.loaded
    assert out == "" and err.strip() == "Error: 'd' is a run of model 'gram', not 'gram_hd'."

