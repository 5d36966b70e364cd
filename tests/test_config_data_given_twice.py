"""``zoo3d train --data`` and a ``--set`` of the same dataset (``data.spec``, or a ``data`` map holding ``spec``) are
refused, as ``compare`` refuses an option and a ``--set`` of one key: ``--data`` is applied last and won without a
word, so the run trained on another dataset than the ``--set`` named. Other ``data`` keys go with ``--data``."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from zoo3d.errors import ConfigError
from zoo3d.launch import plan_run

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("item", ["data.spec=synthetic:heads", " data.spec = faces", "data={spec: faces, mirror: false}"])
def test_data_and_a_set_of_the_dataset_are_refused_naming_both(toy, item):
    with pytest.raises(ConfigError) as err:
        plan_run("toy", data="synthetic:heads", overrides=[item])
    assert str(err.value) == f"--data synthetic:heads and --set '{item}' both set the dataset; give it once."


def test_the_refusal_is_exit_status_2_before_any_run_folder(toy, capsys):
    code, out, err = run_in_process(capsys, "train", "toy", "--data", "synthetic:heads", "--set", "data.spec=elsewhere",
                                    "--steps", "1", "--out", toy / "run", "--quiet")
    assert (code, out) == (2, "")
    assert err == ("Error: --data synthetic:heads and --set 'data.spec=elsewhere' both set the dataset; "
                   "give it once.\n")
    assert not (toy / "run").exists()


def test_data_goes_with_a_set_of_the_other_data_keys_and_a_set_of_the_dataset_alone_is_taken(toy):
    both = plan_run("toy", data="synthetic:heads", overrides=["data.mirror=false", "data.crop=none"]).config.data
    assert (both.spec, both.mirror, both.crop) == ("synthetic:heads", False, "none")
    alone = plan_run("toy", overrides=["data.spec=synthetic:heads", "data.mirror=false"]).config.data
    assert (alone.spec, alone.mirror) == ("synthetic:heads", False)
