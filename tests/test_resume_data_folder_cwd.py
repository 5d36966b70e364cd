"""A run trained on a dataset folder named by a relative path, resumed from another working directory.

``--resume`` takes no ``--data``: the run's stored config names its data (docs/training.md). A folder given as
``--data faces`` was stored as ``faces``, which from another directory named nothing ("neither a registered dataset
nor an existing folder", so the run could not be continued there) or another folder of that name. A new run now
stores such a path as the absolute path of the folder it trains on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import metrics_by_step, run_in_process
from toy_model import use_toy
from zoo3d.launch import train_model

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path, capsys):
    use_toy(monkeypatch, tmp_path / "runs")
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    code, _, err = run_in_process(capsys, "data", "synth", "--out", "faces", "--count", "6", "--resolution", "32")
    assert code == 0, err
    return tmp_path


def _stored_spec(run: Path) -> str:
    return yaml.safe_load((run / "config.yaml").read_text())["data"]["spec"]


def test_a_run_on_a_relative_folder_resumes_from_another_directory(toy, monkeypatch):
    straight = train_model("toy", data="faces", steps=4, out=toy / "straight", progress=False)
    first = train_model("toy", data="faces", steps=2, out=toy / "run", progress=False)
    assert (straight.step, first.step) == (4, 2)
    assert Path(_stored_spec(toy / "run")) == toy / "work" / "faces"
    monkeypatch.chdir(toy / "elsewhere")
    resumed = train_model("toy", steps=4, out=toy / "run", resume=True, progress=False)
    assert (resumed.status, resumed.step, resumed.start_step) == ("done", 4, 2)
    a, b = metrics_by_step(toy / "straight"), metrics_by_step(toy / "run")
    assert a[3] == b[3] and a[4] == b[4]  # the same images, in the same order
    assert a[3]["loss.D"] != a[4]["loss.D"]


def test_a_folder_of_the_same_name_elsewhere_is_not_the_runs_data(toy, monkeypatch, capsys):
    train_model("toy", data="faces", steps=2, out=toy / "run", progress=False)
    monkeypatch.chdir(toy / "elsewhere")  # another 'faces' here: other images
    code, _, err = run_in_process(capsys, "data", "synth", "--out", "faces", "--count", "6", "--resolution", "32",
                                  "--seed", "5")
    assert code == 0, err
    train_model("toy", steps=4, out=toy / "run", resume=True, progress=False)
    train_model("toy", data=str(toy / "work" / "faces"), steps=4, out=toy / "straight", progress=False)
    assert metrics_by_step(toy / "run")[4] == metrics_by_step(toy / "straight")[4]


@pytest.mark.parametrize("spec", ["toy:spheres", "~/no-such-folder-zoo3d"])
def test_a_registered_name_or_a_home_path_is_stored_as_written(toy, spec):
    from zoo3d.launch import plan_run

    assert plan_run("toy", data=spec).config.data.spec == spec
