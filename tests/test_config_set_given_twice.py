"""One key given to two ``--set`` items (``--set epi_frames=4 --set epi_frames=5``) is refused, naming both, in
``zoo3d train`` and ``zoo3d compare`` alike, as a key given twice in one YAML map and an option beside its ``--set``
are: the last won without a word. A map for a section and a key inside it name different keys and layer in the
order given (test_config_set_map_merges.py pins what a map means). The API (load_run_config, build_protocol) still
takes a list in which a later item wins: code layers its own settings under the user's."""

from __future__ import annotations

import pytest
from test_config import ToyRunConfig

from conftest import one_line_error, run_in_process
from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.eval.protocol import build_protocol


@pytest.fixture
def presets(tmp_path):
    (tmp_path / "paper.yaml").write_text("train:\n  checkpoint_every: 5000\nnet:\n  hidden: 256\n  layers: 5\n")
    return tmp_path


def _load(presets, overrides):
    return load_run_config(ToyRunConfig, "toy", presets, "paper", None, list(overrides)).model_dump()


@pytest.mark.parametrize("first, second, key", [
    ("train.seed=1", "train.seed=2", "train.seed"),
    ("net.layers=2", " net.layers = 2", "net.layers"),  # the same value, spaced otherwise: still given twice
    ("train={seed: 3}", "train={amp: false}", "train"),
])
@pytest.mark.parametrize("command", [("train", "gram", "--steps", "1"), ("demo", "--out", "d")], ids=["train", "demo"])
def test_a_run_key_in_two_set_items_is_refused_naming_both(tmp_path, monkeypatch, capsys, command, first, second,
                                                            key):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    code, stdout, err = run_in_process(capsys, *command, "--set", first, "--set", "net.hidden=64", "--set", second)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: --set '{first}' and --set '{second}' both set '{key}'; give it once."
    assert list(tmp_path.iterdir()) == []  # refused before any run folder


@pytest.mark.parametrize("command, first, second, key", [
    (("train", "gram", "--steps", "1"), "stages.0.lr.generator=1e-4", "stages.gram.lr.generator=2e-4",
     "stages.gram.lr.generator"),
    (("train", "gram_hd", "--steps", "1"), "stages.gram_hd.stage2.steps=4", " stages.1.steps = 3",
     "stages.gram_hd.stage2.steps"),
    (("demo", "--out", "d", "--steps", "1", "--frames", "2"), "stages.gram_hd.stage1.batch_size=2",
     "stages.0.batch_size=2", "stages.gram_hd.stage1.batch_size"),
], ids=["train-index-then-name", "train-dotted-name-then-index", "demo"])
def test_a_stage_named_by_index_and_by_name_is_one_key_given_twice(tmp_path, monkeypatch, capsys, command, first,
                                                                   second, key):
    """Before, the two spellings were two keys: the later item won without a word (a run at lr 2e-4)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    code, stdout, err = run_in_process(capsys, *command, "--set", first, "--set", "train.seed=3", "--set", second)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: --set '{first}' and --set '{second}' both set '{key}'; give it once."
    assert list(tmp_path.iterdir()) == []  # refused before any run folder


def test_two_stages_and_two_elements_of_a_list_of_values_are_different_keys(presets):
    from zoo3d.config import config_defaults, refuse_key_set_twice
    from zoo3d_gram_hd.config import GramHDConfig

    refuse_key_set_twice(["stages.0.steps=3", "stages.gram_hd.stage2.steps=4", "train.sample_seeds.0=3",
                          "train.sample_seeds.1=4"], config_defaults(GramHDConfig))


def test_a_section_map_and_a_key_inside_it_layer_in_the_order_given(presets):
    later_key = _load(presets, ["train={seed: 3, checkpoint_every: 7}", "train.seed=4"])["train"]
    later_map = _load(presets, ["train.seed=4", "train={seed: 3}"])["train"]
    assert (later_key["seed"], later_key["checkpoint_every"]) == (4, 7)
    assert (later_map["seed"], later_map["checkpoint_every"]) == (3, 5000)


def test_code_that_layers_its_own_overrides_under_the_user_s_still_may(presets):
    """The refusal is the commands': a caller of load_run_config and build_protocol gives a list in which a later
    item overrides an earlier one (a test's base settings, then its own)."""
    assert _load(presets, ["train.seed=1", "net.layers=2", "train.seed=2"])["train"]["seed"] == 2
    assert build_protocol("small", sets=["epi_frames=4", "epi_frames=5"]).epi_frames == 5


def test_compare_refuses_it_in_one_sentence_before_any_model_is_loaded(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "epi", "--set",
                                       "epi_frames=4", "--set", "neus.iterations=10", "--set", "epi_frames=5")
    assert code == 2, stdout + err
    assert one_line_error(err) == ("Error: --set 'epi_frames=4' and --set 'epi_frames=5' both set 'epi_frames'; "
                                   "give it once.")


def test_bench_zoo_refuses_a_compare_set_key_given_twice_before_the_trainings(monkeypatch):
    from zoo3d.benchmarks import zoo

    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    with pytest.raises(ConfigError) as caught:
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi",
                                      "ZOO3D_ZOO_COMPARE_SET": "epi_frames=6; epi_frames=8"})
    assert str(caught.value) == ("ZOO3D_ZOO_COMPARE_SET (compare's --set items): --set 'epi_frames=6' and --set "
                                 "'epi_frames=8' both set 'epi_frames'; give it once.")


@pytest.mark.parametrize("item", ["neus.iterations=50", "neus={iterations: 50}"])
def test_bench_zoo_quick_gives_its_neus_iterations_way_to_the_compare_set_item(monkeypatch, item):
    """``--quick`` sets NeuS's iterations to 20 as an item before ``ZOO3D_ZOO_COMPARE_SET``'s; one that sets them
    too is the user's choice, not a key given twice."""
    from zoo3d.benchmarks import zoo

    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    s = zoo.settings_from_env(True, {"ZOO3D_ZOO_METRICS": "epi", "ZOO3D_ZOO_COMPARE_SET": f"{item}; epi_frames=6"})
    assert zoo._protocol_sets(s) == [item, "epi_frames=6"]
    assert build_protocol(s.protocol, sets=zoo._protocol_sets(s)).neus.iterations == 50
