"""``--set`` overrides, presets and the sentences that refuse them, written out whole: an empty value, list items
by name or index (and the paths a mistaken one may have meant), sections made on the way, presets that are
missing or extend a missing one, and which place (a file, or none for --set) a refusal names."""

from __future__ import annotations

import pytest
from pydantic import Field
from test_config import NetConfig, ToyRunConfig

from zoo3d.config import RunConfig, StageConfig, apply_overrides, load_run_config, parse_override
from zoo3d.errors import ConfigError


def test_an_empty_set_value_is_null_as_an_empty_value_in_a_file_is(tmp_path):
    """docs/training.md: a --set value means what the same text means in a file, and an empty value is null; an
    optional setting a preset turns on is turned off again with an empty --set."""
    assert parse_override("train.micro_batch=") == (["train", "micro_batch"], None)
    assert parse_override("train.micro_batch=  ") == (["train", "micro_batch"], None)
    (tmp_path / "tiny.yaml").write_text("train:\n  micro_batch: 2\n")
    file = tmp_path / "run.yaml"
    file.write_text("extends: tiny\ntrain:\n  micro_batch:\n")
    from_file = load_run_config(ToyRunConfig, "toy", tmp_path, config_file=file)
    from_set = load_run_config(ToyRunConfig, "toy", tmp_path, "tiny", overrides=["train.micro_batch="])
    assert from_file.train.micro_batch is None and from_set.train.micro_batch is None


@pytest.mark.parametrize("raw, problem", [
    ("[1, 2", "expected ',' or ']', but got '<stream end>'"),
    ("{g: 1", "expected ',' or '}', but got '<stream end>'"),
    ("'abc", "found unexpected end of stream"),  # single quotes start quoted text too
    ('"\x07"', "unacceptable character #x0007: special characters are not allowed"),  # no problem mark: 1st line
])
def test_a_malformed_set_value_is_refused_with_yaml_s_own_problem(raw, problem):
    with pytest.raises(ConfigError) as err:
        parse_override(f"a.b={raw}")
    assert str(err.value) == f"Override 'a.b={raw}': the value {raw!r} is not valid YAML ({problem})."


def _refusal(data: dict, item: str) -> str:
    with pytest.raises(ConfigError) as err:
        apply_overrides(data, [item])
    return str(err.value)


def _stages(*names: str) -> dict:
    return {"stages": [{"name": n, "steps": 1, "lr": {"generator": 1.0}} for n in names]}


@pytest.mark.parametrize("data, item, said", [
    (_stages("main"), "stages.0=3", "give a key of item '0', not the whole item"),
    (_stages("main"), "stages.main=3", "give a key of item 'main', not the whole item"),
    (_stages("main"), "stages.1=3", "no item is named '1' (items: main, or by index 0 to 0)"),
    (_stages("main"), "stages.1.steps=3",
     "no item is named '1'; did you mean 'stages.main.steps' (items: main, or by index 0 to 0)"),
    ({"stages": []}, "stages.main.steps=3", "no item is named 'main' (items by index: none)"),
    ({"seeds": [0, 1, 2]}, "seeds.9.x=3", "the list has no index 9 (indices: 0 to 2)"),
    ({"seeds": [0, 1, 2]}, "seeds.1.x=3", "'seeds.1' is a value, not a section"),
    (_stages("main"), "stages.0.steps.x=3", "'stages.0.steps' is a value, not a section"),
    ({"train": {"seed": 1}}, "train.seed.x=3", "'train.seed' is a value, not a section"),
    (_stages("a.stage2"), "stages.a.stage2.steps.x=3", "'stages.a.stage2.steps' is a value, not a section"),
    (_stages("a.stage2", "bb.stage2"), "stages.stage2.steps=3",
     "no item is named 'stage2'; did you mean 'stages.a.stage2.steps' or 'stages.bb.stage2.steps' "
     "(items: a.stage2, bb.stage2, or by index 0 to 1; a name with dots is written whole, then the key)"),
    (_stages("x.y.one", "x.y.twotwo"), "stages.x.y.steps=3",
     "no item is named 'x.y'; did you mean 'stages.x.y.one.steps' or 'stages.x.y.twotwo.steps' "
     "(items: x.y.one, x.y.twotwo, or by index 0 to 1; a name with dots is written whole, then the key)"),
    (_stages("gram", "gram_hd"), "stages.gramm.lr.generator=3",
     "no item is named 'gramm'; did you mean 'stages.gram.lr.generator' (items: gram, gram_hd, or by index 0 to 1)"),
    (_stages("gram_hd.stage1"), "stages.zzz.steps=3",
     "no item is named 'zzz' (items: gram_hd.stage1, or by index 0 to 0; a name with dots is written whole, "
     "then the key)"),
])
def test_a_set_that_names_no_item_or_a_value_as_a_section_is_one_sentence(data, item, said):
    """Written whole: a suggestion is the whole path, once per item it may mean; the items are listed by name and
    index range; a name with dots earns the note on how to write it."""
    assert _refusal(data, item) == f"Cannot set '{item.partition('=')[0]}': {said}."


def test_a_misspelt_item_is_suggested_from_a_likeness_of_six_tenths_up():
    """difflib's ratio of 'main.steps' to 'stge.steps' is 2 x 6 / 20 = 0.6 exactly, the least that suggests."""
    assert _refusal(_stages("main"), "stages.stge.steps=3") == (
        "Cannot set 'stages.stge.steps': no item is named 'stge'; did you mean 'stages.main.steps' "
        "(items: main, or by index 0 to 0).")
    assert _refusal(_stages("main"), "stages.zzzzzzzz.steps=3") == (  # 2 x 6 / 24 = 0.5
        "Cannot set 'stages.zzzzzzzz.steps': no item is named 'zzzzzzzz' (items: main, or by index 0 to 0).")


def test_a_set_makes_the_sections_it_lacks_and_fills_a_null_one():
    data = {"opt": None}
    assert apply_overrides(data, ["opt.a.b=1", "new.c=2"]) == {"opt": {"a": {"b": 1}}, "new": {"c": 2}}


def test_one_number_of_a_list_setting_is_set_alone():
    """A --set into one number of a list setting (``betas``) sets that number and keeps the other, through the
    merge with the defaults and validation; past the end it is refused in one sentence."""
    assert ToyRunConfig().stages[0].betas == (0.0, 0.9)
    cfg = load_run_config(ToyRunConfig, "toy", overrides=["stages.main.betas.0=0.5"])
    assert cfg.stages[0].betas == (0.5, 0.9)
    with pytest.raises(ConfigError, match=r"'stages.main.betas.2': the list has no index 2 \(indices: 0 to 1\)"):
        load_run_config(ToyRunConfig, "toy", overrides=["stages.main.betas.2=0.5"])


def test_a_missing_stage_is_named_with_the_stages_there_are():
    cfg = ToyRunConfig(stages=[StageConfig(name=n, steps=1, batch_size=1, lr={"g": 1.0}) for n in ("a", "b")])
    with pytest.raises(KeyError) as err:
        cfg.stage("c")
    assert str(err.value) == ("No stage 'c' in this config (stages: a, b); the model's recipe reads it, so name the "
                              "stages as its presets do.")


# ------------------------------------------------------------------------------------------------ presets

@pytest.fixture
def presets(tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "tiny.yaml").write_text("net:\n  hidden: 16\n")
    (folder / "paper.yaml").write_text("net:\n  hidden: 256\n")
    return folder


def _load_refusal(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", *args, **kwargs)
    return str(err.value)


def test_a_model_without_presets_runs_on_its_defaults_unless_a_preset_is_asked_for():
    assert load_run_config(ToyRunConfig, "toy").net.hidden == 64
    assert load_run_config(ToyRunConfig, "toy", None, overrides=["net.hidden=8"]).net.hidden == 8
    assert _load_refusal(None, "tiny") == "Unknown preset 'tiny' for model 'toy'. Available presets: none."


def test_a_model_with_presets_but_no_default_one_is_refused_when_none_is_given(tmp_path):
    (tmp_path / "paper.yaml").write_text("net:\n  hidden: 256\n")
    assert _load_refusal(tmp_path) == "Unknown preset 'tiny' for model 'toy'. Available presets: paper."


def test_an_unknown_preset_names_the_closest_one_if_any_and_every_one(presets):
    assert _load_refusal(presets, "papr") == ("Unknown preset 'papr' for model 'toy'. Did you mean 'paper'? "
                                              "Available presets: paper, tiny.")
    assert _load_refusal(presets, "zzz") == "Unknown preset 'zzz' for model 'toy'. Available presets: paper, tiny."


def test_a_preset_and_a_config_file_together_are_refused(presets, tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("net:\n  hidden: 1\n")
    assert _load_refusal(presets, "tiny", file) == "Give either --preset or --config, not both."


def test_a_base_preset_that_extends_a_missing_one_is_named_as_the_file_that_says_so(presets, tmp_path):
    (presets / "mid.yaml").write_text("extends: tinny\n")
    (presets / "top.yaml").write_text("extends: mid\n")
    assert _load_refusal(presets, "top") == (f"'extends: tinny' in {presets / 'mid.yaml'} names no preset of this "
                                             f"model. Did you mean 'tiny'? Available presets: mid, paper, tiny, top.")


# ------------------------------------------------------------------------------ where a refusal is placed

@pytest.fixture
def file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("net:\n  hidden: 8\n")
    return path


@pytest.mark.parametrize("item", ["model=other", "model=other=1"])
def test_another_model_named_by_set_is_refused_without_naming_the_file_beside_it(file, item):
    other = item.partition("=")[2]
    assert _load_refusal(None, None, file, [item]) == (
        f"The config is for model '{other}', not 'toy': train '{other}' with it, or drop its 'model' key.")


@pytest.mark.parametrize("item", ["train.steps=5", "train.steps=a=b", "train={steps: 5}"])
def test_a_moved_train_key_given_by_set_is_refused_without_naming_the_file_beside_it(file, item):
    assert _load_refusal(None, None, file, [item]) == (
        "'train.steps' is not a key: model 'toy' sets steps per stage, in 'stages.main.steps'.")


def test_a_moved_train_key_in_a_file_names_the_file_and_the_stage_keys_or_their_form(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("train:\n  batch_size: 4\nstages: [{name: main, steps: 1}, 3]\n")
    assert _load_refusal(None, None, file) == (
        f"'train.batch_size' is not a key (in {file}): model 'toy' sets batch_size per stage, in "
        f"'stages.main.batch_size'.")
    file.write_text("train:\n  steps: 4\nstages: []\n")
    assert _load_refusal(None, None, file) == (
        f"'train.steps' is not a key (in {file}): model 'toy' sets steps per stage, in 'stages.<name>.steps' of "
        f"each stage.")


class NeedyConfig(RunConfig):
    """A config with a required key (after ``net``): it has no complete defaults."""

    net: NetConfig = Field(default_factory=NetConfig)
    label: str


def test_a_config_without_complete_defaults_names_what_is_missing_and_what_set_broke_first():
    with pytest.raises(ConfigError) as err:
        load_run_config(NeedyConfig, "needy")
    assert str(err.value) == "Missing config key 'label'."
    with pytest.raises(ConfigError) as err:
        load_run_config(NeedyConfig, "needy", overrides=["net.layers=0"])
    assert str(err.value) == ("Invalid value 0 for config key 'net.layers': input should be greater than or equal "
                              "to 1.")


def test_set_keys_are_the_leaves_a_map_item_names():
    """What a ``--set`` item sets, for the checks of keys a run does not read or an import sets itself: a map sets
    its own keys down to their values, nothing else under its key; an empty map or a list is one value."""
    from zoo3d.config import set_keys

    assert set_keys("generator.render", {"near": 0.88, "sampling": {"num": 64, "jitter": True}}) == [
        "generator.render.near", "generator.render.sampling.num", "generator.render.sampling.jitter"]
    assert set_keys("generator.render", {}) == ["generator.render"]
    assert set_keys("generator.sr_channels", [16, 16]) == ["generator.sr_channels"]
    assert set_keys("stages.gram.steps", 10) == ["stages.gram.steps"]
