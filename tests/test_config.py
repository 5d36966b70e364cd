"""Config validation: presets, files, --set overrides, and one-sentence errors naming the key."""

from __future__ import annotations

import pytest
from pydantic import Field

from zoo3d.config import Config, RunConfig, StageConfig, TrainConfig, apply_overrides, dump_config, load_run_config
from zoo3d.errors import ConfigError


class NetConfig(Config):
    hidden: int = 64
    layers: int = Field(3, ge=1)


class ToyRunConfig(RunConfig):
    net: NetConfig = Field(default_factory=NetConfig)
    stages: list[StageConfig] = Field(default_factory=lambda: [
        StageConfig(name="main", steps=1000, batch_size=8, lr={"generator": 1e-3})])


@pytest.fixture
def presets(tmp_path):
    (tmp_path / "tiny.yaml").write_text("stages:\n  - {name: main, steps: 5, batch_size: 2}\nnet:\n  hidden: 16\n")
    (tmp_path / "paper.yaml").write_text("net:\n  hidden: 256\n")
    return tmp_path


def test_preset_then_overrides_with_types(presets):
    cfg = load_run_config(ToyRunConfig, "toy", presets, preset="tiny",
                          overrides=["net.layers=5", "train.amp=false", "camera.fov=18", "data.spec=synthetic:heads"])
    assert (cfg.stage("main").steps, cfg.stage("main").batch_size, cfg.net.hidden, cfg.net.layers) == (5, 2, 16, 5)
    assert cfg.train.amp is False and cfg.camera.fov == 18.0 and cfg.model == "toy"
    default = load_run_config(ToyRunConfig, "toy", presets)  # tiny is the default preset
    assert default.net.hidden == 16


def test_unknown_key_names_it_and_the_closest_valid_keys(presets):
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", presets, overrides=["train.sead=3"])
    msg = str(err.value)
    assert "'train.sead'" in msg and "'train.seed'" in msg
    assert msg.count(".") <= 8 and "\n" not in msg and "Traceback" not in msg


def test_wrong_type_names_key_and_value(presets):
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", presets, overrides=["net.layers=many"])
    assert "'net.layers'" in str(err.value) and "'many'" in str(err.value) and "integer" in str(err.value)
    with pytest.raises(ConfigError, match="net.layers"):
        load_run_config(ToyRunConfig, "toy", presets, overrides=["net.layers=0"])


def test_bad_preset_and_bad_file_are_one_sentence(presets, tmp_path):
    with pytest.raises(ConfigError, match="Unknown preset 'tinny'.*Did you mean 'tiny'"):
        load_run_config(ToyRunConfig, "toy", presets, preset="tinny")
    bad = tmp_path / "bad.yaml"
    bad.write_text("net: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(ToyRunConfig, "toy", presets, config_file=bad)
    other = tmp_path / "other.yaml"
    other.write_text("nte:\n  hidden: 3\n")
    with pytest.raises(ConfigError, match=r"Unknown config key 'nte' in .*other.yaml; did you mean 'net'"):
        load_run_config(ToyRunConfig, "toy", presets, config_file=other)
    # with a --set (or --data) beside it, the file's own error still names the file; a --set's error does not
    with pytest.raises(ConfigError, match=r"Unknown config key 'nte' in .*other.yaml; did you mean 'net'"):
        load_run_config(ToyRunConfig, "toy", presets, config_file=other, overrides=["net.hidden=8"])
    good = tmp_path / "good.yaml"
    good.write_text("net:\n  hidden: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(ToyRunConfig, "toy", presets, config_file=good, overrides=["net.layers=0"])
    assert "net.layers" in str(caught.value) and "good.yaml" not in str(caught.value)
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])


def test_a_preset_extends_another_and_states_only_what_it_changes(presets, tmp_path):
    (presets / "short.yaml").write_text("extends: tiny\nstages:\n  - {name: main, steps: 2}\n")
    cfg = load_run_config(ToyRunConfig, "toy", presets, preset="short")
    assert (cfg.stage("main").steps, cfg.stage("main").batch_size, cfg.net.hidden) == (2, 2, 16)
    # a chain of bases, then the overrides on top
    (presets / "shorter.yaml").write_text("extends: short\nnet: {layers: 2}\n")
    cfg = load_run_config(ToyRunConfig, "toy", presets, preset="shorter", overrides=["net.hidden=8"])
    assert (cfg.stage("main").steps, cfg.stage("main").batch_size, cfg.net.layers, cfg.net.hidden) == (2, 2, 2, 8)
    # a --config file may extend one of the model's presets
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "run.yaml").write_text("extends: paper\nnet: {layers: 7}\n")
    cfg = load_run_config(ToyRunConfig, "toy", presets, config_file=mine / "run.yaml")
    assert (cfg.net.hidden, cfg.net.layers, cfg.stage("main").steps) == (256, 7, 1000)


def test_extending_a_missing_preset_or_in_a_loop_is_one_sentence(presets):
    (presets / "typo.yaml").write_text("extends: tiyn\n")
    with pytest.raises(ConfigError, match=r"'extends: tiyn' in .*typo.yaml names no preset.*Did you mean 'tiny'"):
        load_run_config(ToyRunConfig, "toy", presets, preset="typo")
    (presets / "a.yaml").write_text("extends: b\n")
    (presets / "b.yaml").write_text("extends: a\n")
    with pytest.raises(ConfigError, match="in a loop: a -> b -> a"):
        load_run_config(ToyRunConfig, "toy", presets, preset="a")
    # --set cannot extend: the bases are merged before the overrides, so the sentence says where it belongs
    with pytest.raises(ConfigError, match=r"^'extends' is read from a preset or --config file, not from --set: "
                                          r"start from another preset with --preset NAME\.$"):
        load_run_config(ToyRunConfig, "toy", presets, preset="tiny", overrides=[" extends =paper"])


def test_dumped_config_reloads_identically(presets, tmp_path):
    cfg = load_run_config(ToyRunConfig, "toy", presets, preset="paper", overrides=["train.sample_seeds=[3, 4]"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg))
    assert "!!python" not in path.read_text()
    again = load_run_config(ToyRunConfig, "toy", None, config_file=path, default_preset=None)
    assert again == cfg



class SectionWithModelDefaults(RunConfig):
    """A model whose config class changes the engine section's defaults."""

    train: TrainConfig = Field(default_factory=lambda: TrainConfig(ema_decay=0.5, log_every=7))


def test_override_keeps_the_model_defaults_of_its_section():
    cfg = load_run_config(SectionWithModelDefaults, "m", None, overrides=["train.seed=5"], default_preset=None)
    assert (cfg.train.seed, cfg.train.ema_decay, cfg.train.log_every) == (5, 0.5, 7)


@pytest.mark.parametrize("folder", ["heads #2", "2024", "no", "null", "a: b", "[x]", 'quote"d', "back\\slash",
                                    "faces\U0001F600", "bad\udcffbyte", "c1\x85\x9fcontrol"])
def test_a_data_folder_is_taken_as_written_not_read_as_yaml(folder):
    # `--data` went through the YAML of --set: "heads #2" lost its "#2" (another folder, silently) and
    # "2024" or "no" stopped being strings
    from zoo3d.launch import plan_run

    plan = plan_run("gram", data=folder, preset="tiny")
    assert plan.config.data.spec == folder


@pytest.mark.parametrize("item, said", [
    ("stages.0.betas=[1.5, 0.9]", "stages.gram.betas"),
    ("stages.0.betas=[0.0, 1.0]", "stages.gram.betas"),
    ("stages.0.betas=[-0.1, 0.9]", "stages.gram.betas"),
    # the stage by the name the user typed, not its index in the list
    ("stages.gram.batchsize=5", "Unknown config key 'stages.gram.batchsize'; did you mean 'stages.gram.batch_size'"),
    ("train.sample_seeds.0.x=1", "'train.sample_seeds.0' is a value, not a section"),
    ("train.sample_seeds.0.x.y=1", "'train.sample_seeds.0' is a value, not a section"),
])
def test_a_bad_set_is_one_config_error_before_anything_runs(item, said):
    # Adam's own check gave a traceback after the run folder was made; an index followed by a key gave a
    # TypeError or AttributeError
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    with pytest.raises(ConfigError, match=said.replace(".", r"\.").replace("'", "'")):
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None, [item])


def test_a_config_or_card_file_that_is_not_utf8_is_one_sentence(tmp_path):
    from zoo3d.cards import load_card
    from zoo3d.config import read_yaml

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"train:\n  seed: 1 # \xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_yaml(bad)
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_card(bad)


@pytest.mark.parametrize("model, prefix", [("gram", "generator.render"), ("gram_hd", "generator.lowres.render"),
                                           ("pigan", "generator.rendering"), ("stylesdf", "generator.renderer"),
                                           ("triplane", "generator")])
def test_rays_that_end_before_they_start_are_refused_in_one_sentence_naming_the_section(model, prefix):
    # GRAM, pi-GAN and StyleSDF trained with near 1.12 and far 0.88 without a word
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    with pytest.raises(ConfigError) as caught:
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None,
                        [f"{prefix}.near=1.12", f"{prefix}.far=0.88"])
    said = str(caught.value)
    assert f"Invalid config section '{prefix}'" in said and "far (0.88) must be larger than near (1.12)" in said
    assert len(said) < 200  # the rule, not the section's whole content


def test_a_config_naming_another_model_is_refused_and_an_alias_of_the_same_one_is_not(tmp_path):
    # `zoo3d train gram --config pigan-run/config.yaml` stored `model: pigan` in a GRAM run's config.yaml,
    # where `--resume` looks for a model's runs
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram_hd")
    cls = spec.load().config_class
    with pytest.raises(ConfigError, match="is for model 'pigan', not 'gram_hd'"):
        load_run_config(cls, spec.name, spec.presets_dir, "tiny", None, ["model=pigan"])
    for same in ("GRAM-HD", "gramhd", "gram_hd"):
        assert load_run_config(cls, spec.name, spec.presets_dir, "tiny", None, [f"model={same}"]).model == "gram_hd"
    other = tmp_path / "other.yaml"
    other.write_text("model: stylesdf\nextends: tiny\n")
    with pytest.raises(ConfigError, match=f"in {other}.*is for model 'stylesdf'"):
        load_run_config(cls, spec.name, spec.presets_dir, None, other)


@pytest.mark.parametrize("raw, value", [("1e5", 100000), ("2E3", 2000), ("1e-3", 0.001), ("-1.5e2", -150.0)])
def test_numbers_in_exponent_notation_are_numbers_as_a_user_means_them(raw, value):
    # PyYAML (YAML 1.1) reads 1e5 as text: `--set stages.gram.steps=1e5` was refused as not an integer
    from zoo3d.config import parse_override

    assert parse_override(f"a.b={raw}") == (["a", "b"], value)
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    cfg = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None,
                          ["stages.gram.steps=1e5", "train.seed=2e3"])
    assert cfg.stage("gram").steps == 100000 and cfg.train.seed == 2000 and isinstance(cfg.train.seed, int)


@pytest.mark.parametrize("item, said", [
    ("stages.gram.grad_clip=-1",
     "Invalid value -1 for config key 'stages.gram.grad_clip': must be a finite number above 0"),
    ("stages.gram.grad_clip={generator: -1, discriminator: 1}",
     "'stages.gram.grad_clip': the clip of role 'generator' must be a finite number above 0, got -1"),
    ("stages.gram.grad_clip=[1]", "for config key 'stages.gram.grad_clip': must be a finite number above 0, or roles"),
])
def test_a_bad_clip_names_the_key_and_the_role_not_pydantics_union_members(item, said):
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    with pytest.raises(ConfigError) as caught:
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None, [item])
    assert said in str(caught.value) and "constrained" not in str(caught.value)


def test_exponent_numbers_are_numbers_inside_lists_maps_and_files_but_quoted_text_stays_text(tmp_path):
    from zoo3d.config import parse_override
    from zoo3d.plugins import get_model_spec

    assert parse_override("a={g: 1e-3, d: [2E2, x]}") == (["a"], {"g": 0.001, "d": [200.0, "x"]})
    assert parse_override('data.spec="1e3"') == (["data", "spec"], "1e3")  # a folder named 1e3
    spec = get_model_spec("gram")
    cls = spec.load().config_class
    cfg = load_run_config(cls, spec.name, spec.presets_dir, "tiny", None,
                          ["stages.gram.grad_clip={generator: 1e-3}", "train.sample_seeds=[1e3]", 'data.spec="1e3"'])
    assert cfg.stage("gram").grad_clip == {"generator": 0.001} and cfg.train.sample_seeds == [1000]
    assert cfg.data.spec == "1e3"
    file = tmp_path / "clip.yaml"
    file.write_text("extends: tiny\nstages:\n  - {name: gram, grad_clip: 1e-3}\n")
    assert load_run_config(cls, spec.name, spec.presets_dir, None, file).stage("gram").grad_clip == 0.001


def test_a_clip_map_in_a_file_is_the_whole_setting_as_from_set(tmp_path):
    """The docs: a role a grad_clip map leaves out is unclipped. A file's map used to merge into the preset's,
    keeping the discriminator's 1.0, where the same map from --set unclipped it."""
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    cls = spec.load().config_class
    file = tmp_path / "clip.yaml"
    file.write_text("extends: ffhq256\nstages:\n  - {name: gram, grad_clip: {generator: 0.5}}\n")
    from_file = load_run_config(cls, spec.name, spec.presets_dir, None, file).stage("gram")
    from_set = load_run_config(cls, spec.name, spec.presets_dir, "ffhq256", None,
                               ["stages.gram.grad_clip={generator: 0.5}"]).stage("gram")
    assert from_file.grad_clip == from_set.grad_clip == {"generator": 0.5}
    assert from_file.clip_for("discriminator") is None
    assert load_run_config(cls, spec.name, spec.presets_dir, "ffhq256").stage("gram").grad_clip == {
        "generator": 0.25, "discriminator": 1.0}


@pytest.mark.parametrize("raw, value", [
    ("1:30", "1:30"), ("1:30.5", "1:30.5"),  # YAML 1.1 reads base-60: 90 and 90.5
    ("010", 10), ("-007", -7), ("0o17", 15), ("0x1f", 31),  # YAML 1.1 reads 010 as octal 8
    ("no", "no"), ("Yes", "Yes"), ("on", "on"), ("OFF", "OFF"), ("[1.0, no, 2]", [1.0, "no", 2]),
    ("true", True), ("False", False), ("TRUE", True),
    ("2024-01-02", "2024-01-02"), ("1_000", "1_000"), ("0b101", "0b101"), ("=", "="),
    ("1e-3", 0.001), (".5", 0.5), ("~", None), ("null", None),
])
def test_a_set_value_is_read_as_yaml_12_core_schema(raw, value):
    from zoo3d.config import parse_override

    _, got = parse_override(f"a={raw}")
    assert repr(got) == repr(value)  # the type too: True == 1 and 10.0 == 10


@pytest.mark.parametrize("raw, seed", [("010", 10), ("0x10", 16), ("1e3", 1000), ("1:30", None)])
def test_a_config_file_and_set_read_a_value_alike(presets, tmp_path, raw, seed):
    file = tmp_path / "run.yaml"
    file.write_text(f"train:\n  seed: {raw}\n")
    if seed is None:  # text, refused by both alike
        for kwargs in ({"config_file": file}, {"overrides": [f"train.seed={raw}"]}):
            with pytest.raises(ConfigError, match=f"Invalid value '{raw}' for config key 'train.seed'"):
                load_run_config(ToyRunConfig, "toy", presets, **kwargs)
        return
    from_file = load_run_config(ToyRunConfig, "toy", presets, config_file=file)
    from_set = load_run_config(ToyRunConfig, "toy", presets, overrides=[f"train.seed={raw}"])
    assert from_file.train.seed == from_set.train.seed == seed


@pytest.mark.parametrize("text", ["1e3", "0o7", "no", "on", "1:30", "010", "2024-01-02", "TRUE", "~", "=", ".inf"])
def test_a_dumped_config_keeps_its_text_for_yaml_11_and_12_readers(text):
    # text YAML 1.2 reads as a number ("1e3", "0o7") was written unquoted, and came back as one
    import yaml

    from zoo3d.config import load_yaml

    cfg = ToyRunConfig(data={"spec": text})
    dumped = dump_config(cfg)
    assert load_yaml(dumped)["data"]["spec"] == yaml.safe_load(dumped)["data"]["spec"] == text


def _builtin_yaml_files():
    from pathlib import Path

    from zoo3d.plugins import get_host

    files = []
    for spec in get_host().load().models:
        files += sorted(Path(spec.presets_dir).glob("*.yaml")) if spec.presets_dir else []
        files += [Path(spec.card)] if spec.card else []
    return sorted(set(files))


def test_every_builtin_preset_and_card_means_the_same_in_yaml_11_and_12():
    # the presets were written for PyYAML's YAML 1.1 reading; switching to the core schema must not change one
    import yaml

    from zoo3d.config import load_yaml

    yaml_11 = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser where PyYAML has it: twice as fast
    files = _builtin_yaml_files()
    assert len(files) >= 30
    for path in files:
        text = path.read_text()
        assert repr(load_yaml(text)) == repr(yaml.load(text, Loader=yaml_11)), path


@pytest.mark.parametrize("item, key", [
    ("stages.gram.lr.generator=.inf", "stages.gram.lr.generator"),
    ("stages.gram.lr.generator=.nan", "stages.gram.lr.generator"),
    ("generator.manifold.init_scale=.nan", "generator.manifold.init_scale"),  # unbounded: trained on NaN
    ("generator.manifold.center=[0, .inf, -1.5]", "generator.manifold.center.1"),
    ("camera.yaw_mean=-.inf", "camera.yaw_mean"),
    ("train.ema_rampup=.inf", "train.ema_rampup"),
    ("stages.gram.loss.r1_gamma=.inf", "stages.gram.loss.r1_gamma"),  # a union: not '...r1_gamma.float'
    ("stages.gram.grad_clip=.inf", "stages.gram.grad_clip"),
    ("stages.gram.grad_clip={generator: .nan}", "stages.gram.grad_clip"),
    ("stages.gram.grad_clip={generator: .inf}", "stages.gram.grad_clip"),  # the map: not '...grad_clip.float'
])
def test_an_infinite_or_nan_number_is_refused_naming_the_key(item, key):
    # `--set stages.gram.lr.generator=.inf` trained, and a NaN passed every key without bounds
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    with pytest.raises(ConfigError) as caught:
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None, [item])
    said = str(caught.value)
    assert f"'{key}'" in said and "finite number" in said, said


def test_an_infinite_number_in_a_config_file_is_refused_naming_the_file(presets, tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("train:\n  sample_truncation: .NaN\n")
    with pytest.raises(ConfigError, match=f"'train.sample_truncation' in {file}: input should be a finite number"):
        load_run_config(ToyRunConfig, "toy", presets, config_file=file)


def test_a_malformed_list_map_or_quoted_value_is_refused_with_the_yaml_problem():
    """``--set 'train.sample_seeds=[1, 2'`` fell back to the text '[1, 2' and was then refused as "not a valid
    list", hiding the missing bracket; plain text YAML cannot read is still taken as written."""
    from zoo3d.config import parse_override

    for raw in ("[1, 2", "{generator: 1e-3", '"heads'):
        with pytest.raises(ConfigError, match=r"the value .* is not valid YAML \(.*\)\.$"):
            parse_override(f"a.b={raw}")
    assert parse_override("data.spec=@heads") == (["data", "spec"], "@heads")  # "@" starts no YAML value
