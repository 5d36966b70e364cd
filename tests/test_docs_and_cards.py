"""Every hook is documented, every model card validates, every registered model has a card and presets, and
the protocol table in docs/metrics.md states what the protocols are, every environment variable is documented,
every public helper plugins.md lists exists, and every `zoo3d.…` name, `zoo3d CMD --option` and config key the
docs write exists."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from zoo3d.cards import load_card
from zoo3d.errors import ConfigError
from zoo3d.plugins import Hookspecs, get_host


def test_every_hook_is_documented_in_plugins_md():
    text = (REPO / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(Hookspecs) if name.startswith("zoo3d_")]
    assert len(hooks) == 4
    for hook in hooks:
        assert f"### `{hook}(" in text, f"{hook} has no section in docs/plugins.md"


def test_the_public_helpers_plugins_md_lists_exist():
    """Every ``zoo3d.…`` name in the "Other public helpers" section resolves (a renamed helper leaves no
    documented name behind)."""
    text = (REPO / "docs" / "plugins.md").read_text()
    section = text.split("## Other public helpers", 1)[1].split("\n## ", 1)[0]
    names = sorted(set(re.findall(r"`(zoo3d(?:\.\w+)+)", section)))
    assert len(names) >= 10, names
    missing = [name for name in names if not _resolves(name)]
    assert not missing, f"documented in plugins.md and do not exist: {missing}"


CARDS = sorted((REPO / "plugins").glob("zoo3d_*/*card.yaml"))


@pytest.mark.parametrize("card", CARDS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_model_cards_validate(card):
    parsed = load_card(card)
    expected = card.parent.name.removeprefix("zoo3d_") + ("_inconsistent" if card.stem.startswith("inconsistent") else "")
    assert parsed.name.lower().replace("-", "_") == expected
    for result in parsed.results:
        assert result.table.strip(), f"{card.name}: every reported number names its table"


def test_registered_models_have_valid_cards_and_presets():
    for spec in get_host().models:
        assert spec.card is not None, f"model {spec.name} has no card"
        card = load_card(spec.card)
        assert card.kind == spec.kind
        assert spec.default_preset in spec.presets() or not spec.presets(), spec.name
        assert set(card.presets) <= set(spec.presets()), f"{spec.name}: card lists presets that do not exist"


def test_a_broken_card_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresults:\n  - {table: T1, dataset: FFHQ, metric: FID, valeu: 3}\n")
    with pytest.raises(ConfigError, match=r"Unknown config key 'results.0.valeu'.*did you mean 'results.0.value'"):
        load_card(bad)


def _protocol_table() -> dict[str, tuple[str, str]]:
    """docs/metrics.md's protocol table: setting -> (its `small` cell, its `paper` cell)."""
    text = (REPO / "docs" / "metrics.md").read_text().split("## Protocols", 1)[1]
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): (cells[1].strip(), cells[2].strip()) for cells in rows if len(cells) == 3}


@pytest.mark.parametrize("name", ["small", "paper"])
def test_metrics_md_protocol_table_states_what_the_protocols_are(name):
    """The table users read to know what produced a number must follow the code when a default moves."""
    from zoo3d.eval.protocol import make_protocol

    p = make_protocol(name)
    n = p.neus
    column = 0 if name == "small" else 1
    table = {key: cells[column] for key, cells in _protocol_table().items()}
    number = lambda v: f"{v:,}".replace(",", " ") if v >= 10_000 else str(v)  # noqa: E731  (20 000 but 2048)
    assert table["instances (seeds 0…N−1)"] == str(p.instances)
    if name == "small":  # the paper column says "same"
        assert table["views, yaw, pitch"].startswith(f"{p.views}, evenly in [−{p.yaw_range}, {p.yaw_range}], {p.pitch:g}")
    assert table["NeuS iterations × rays"].startswith(f"{number(n.iterations)} × {number(n.batch_rays)}")
    assert table["NeuS samples"].startswith(f"{n.n_coarse} coarse + {n.n_importance}" if name == "small"
                                            else f"{n.n_coarse} + {n.n_importance}")
    assert f"({n.upsample_steps} steps" in table["NeuS samples"]
    assert table["NeuS SDF / colour MLP"].startswith(
        f"{n.sdf_layers}×{n.sdf_hidden} / {n.color_layers}×{n.color_hidden}, feature {n.feature_dim}")
    assert table["NeuS lr"].startswith(f"{n.lr:.0e}".replace("e-0", "e−"))
    assert table["EPI frames (at 64 px; × resolution / 64 above it)"].startswith(str(p.epi_frames))
    images = number(p.distribution_images)
    assert re.fullmatch(rf"{images} (generated )?vs {images}( real)?", table["fid/kid/swd/diversity images"])
    assert table["resolution"] == (str(p.resolution) if p.resolution else "the model's own")


#: variables zoo3d sets for its own child processes, not settings for users
INTERNAL_VARIABLES = {"ZOO3D_PLUGIN_NOTES_SAID", "ZOO3D_DATASET_CHECKED"}  # set by zoo3d train --nproc for its processes


def test_every_environment_variable_the_code_reads_is_documented():
    """A setting read from the environment and named in no doc is one users cannot find (the benchmark suites'
    went undocumented until this test)."""
    sources = [*(REPO / "zoo3d").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
    named = set().union(*(re.findall(r"[\"'](ZOO3D_[A-Z0-9_]+)[\"']", p.read_text()) for p in sources))
    docs = "\n".join(p.read_text() for p in [*(REPO / "docs").glob("*.md"), REPO / "README.md"])
    assert len(named) > 30  # the scan finds them at all
    assert sorted(n for n in named - INTERNAL_VARIABLES if n not in docs) == []


def test_every_tiny_preset_draws_its_training_grids_untruncated():
    """training.md: "The tiny presets therefore draw their training sample grids at psi = 1". The tri-plane,
    pi-GAN and StyleSDF tiny presets drew them at the default 0.7, so their grids were not comparable with the
    others' nor with `zoo3d sample --psi 1`."""
    from zoo3d.config import load_run_config

    checked = []
    for spec in get_host().models:
        for preset in (p for p in spec.presets() if p.startswith("tiny")):
            config = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset, None, [])
            if not config.stages:  # the calibration oracles train nothing and draw no training grids
                continue
            assert config.train.sample_truncation == 1.0, (spec.name, preset)
            checked.append(f"{spec.name}/{preset}")
    assert {"gram/tiny", "pigan/tiny", "stylesdf/tiny", "triplane/tiny_eg3d"} <= set(checked)
    assert "The tiny presets therefore draw their training sample grids at ψ = 1" in (
        REPO / "docs" / "training.md").read_text()


def test_testing_md_names_every_module_mutation_testing_leaves_out():
    """testing.md says mutation testing scores every module of zoo3d/train/, eval/ and render/ but those it
    names; `eval/detail.py` was not scored and not named."""
    from mutate import TARGETS

    text = (REPO / "docs" / "testing.md").read_text()
    claim = re.search(r"every\s+module of `zoo3d/train/`, `zoo3d/eval/` and `zoo3d/render/` but (.*?), the models'",
                      text, re.S)
    assert claim, "testing.md no longer states which modules mutation testing leaves out"
    named = {f"zoo3d/{path}" for path in re.findall(r"`(\w+/[\w/]+\.py)`", claim.group(1))}
    modules = {str(p.relative_to(REPO)) for part in ("train", "eval", "render")
               for p in (REPO / "zoo3d" / part).rglob("*.py") if p.name != "__init__.py"}
    assert sorted(modules - set(TARGETS)) == sorted(named)


USER_DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("examples/*/README.md"))]


def _code_spans(text: str) -> list[str]:
    """Inline code and the lines of fenced blocks: where the docs write commands and names."""
    fenced = [line for block in re.findall(r"```\w*\n(.*?)```", text, re.S) for line in block.splitlines()]
    return re.findall(r"`([^`\n]+)`", text) + fenced


def _resolves(dotted: str) -> bool:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
            break
        except ImportError:
            continue
    else:
        return False
    for attr in parts[cut:]:
        if not hasattr(obj, attr):
            return False
        obj = getattr(obj, attr)
    return True


def test_every_zoo3d_name_the_docs_give_exists():
    """A `zoo3d.<module>.<name>` or `zoo3d_<plugin>.<name>` in the docs names code that is there (a renamed
    function leaves no documented name behind). Names like `zoo3d.step` are checkpoint metadata keys, not code."""
    modules = {p.stem for p in (REPO / "zoo3d").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    missing, checked = [], 0
    for doc in USER_DOCS:
        for name in sorted(set(re.findall(r"`((?:zoo3d|zoo3d_[a-z_]+)(?:\.\w+)+)", doc.read_text()))):
            if name.startswith("zoo3d.") and name.split(".")[1] not in modules:
                continue
            checked += 1
            if not _resolves(name):
                missing.append(f"{doc.name}: {name}")
    assert checked > 50  # the scan finds them at all
    assert missing == []


def _cli_options(words: list[str]):
    """The click command that `zoo3d WORDS…` runs and its option names (None: no such command)."""
    import click

    from zoo3d.cli.main import cli

    cmd, ctx = cli, click.Context(cli)
    for word in words[:2]:
        if not isinstance(cmd, click.Group) or cmd.get_command(ctx, word) is None:
            break
        cmd = cmd.get_command(ctx, word)
    if cmd is cli:
        return None
    return {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}


def test_every_option_the_docs_give_a_command_exists():
    """`zoo3d CMD … --flag` written in the docs uses an option CMD has (`--help` lists them)."""
    wrong, checked = [], 0
    for doc in USER_DOCS:
        for span in _code_spans(doc.read_text()):
            for match in re.finditer(r"(?:^|[\s(])zoo3d ((?:[a-z][\w-]*\s*)+)(.*?)(?:#|$|;|&&)", span):
                options = _cli_options(match.group(1).split())
                if options is None:
                    continue
                checked += 1
                flags = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", " ".join(match.groups())))
                wrong += [f"{doc.name}: {flag} in `{span.strip()}`" for flag in sorted(flags - options)]
    assert checked > 100
    assert wrong == []


def _preset_configs() -> list[dict]:
    """Every registered model's every preset, as the plain data a run's config.yaml holds."""
    from zoo3d.config import load_run_config

    return [load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset, None, []).model_dump()
            for spec in get_host().models for preset in spec.presets()]


def _config_has(node, parts: list[str]) -> bool:
    """Whether the dotted key ``parts`` is in a dumped config: stages are addressed by their whole name
    (`stages.gram_hd.stage2`) or index, `<name>` stands for any entry, and an empty map (`module_lr`, a stage's
    `loss`) takes any key."""
    if not parts:
        return True
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        if head in node:
            return _config_has(node[head], rest)
        return not node or (head.startswith("<") and any(_config_has(v, rest) for v in node.values()))
    if isinstance(node, list):
        if head.startswith("<"):
            return any(_config_has(item, rest) for item in node)
        if head.isdigit():
            return int(head) < len(node) and _config_has(node[int(head)], rest)
        for cut in range(len(parts), 0, -1):
            name = ".".join(parts[:cut])
            if any(item.get("name") == name and _config_has(item, parts[cut:]) for item in node):
                return True
    return False


#: keys the docs name as examples of what a config refuses
REFUSED_KEYS = {"train.steps", "train.batch_size", "stages.gram_hd.steps"}


def test_every_config_key_the_docs_name_is_a_key_of_some_model():
    """A `section.key` the docs name (`generator.texture_filter`, `stages.<name>.module_lr`) is in some model's
    config; file names (`data.py`) and calls (`generator.represent(…)`) are not keys, and the docs name a few
    keys as what is refused."""
    configs = _preset_configs()
    sections = set().union(*configs) - {"model"}
    key = re.compile(r"`(?:--set )?((?:%s)\.[\w.<>]+?)\.?(?=[`:=\s)])" % "|".join(sorted(sections)))
    unknown, checked = [], 0
    for doc in USER_DOCS:
        for name in sorted(set(key.findall(doc.read_text()))):
            if name.rsplit(".", 1)[-1] in {"py", "pth", "pt", "pkl"} or name in REFUSED_KEYS:
                continue
            checked += 1
            if not any(_config_has(config, name.split(".")) for config in configs):
                unknown.append(f"{doc.name}: {name}")
    assert checked > 50, checked
    assert unknown == []


def test_training_md_lists_every_metadata_key_a_checkpoint_holds():
    """training.md's list of checkpoint metadata is the whole of what the engine writes (`zoo3d.total_rollbacks`
    was written and not listed)."""
    written = set(re.findall(r"\"(zoo3d\.\w+)\": ", (REPO / "zoo3d" / "train" / "engine.py").read_text()))
    listed = (REPO / "docs" / "training.md").read_text().split("Metadata (flat str→str):", 1)[1].split("\n\n", 1)[0]
    assert len(written) > 10
    assert sorted(key for key in written if f"`{key}`" not in listed) == []


def test_data_md_lists_every_option_of_synthetic_heads():
    """Every `synthetic:heads?KEY=` option the dataset takes is in data.md's list (`device` was not)."""
    from zoo3d.data.synthetic import parse_options
    from zoo3d.errors import UserError

    with pytest.raises(UserError) as err:
        parse_options({"no_such_option": "1"})
    valid = str(err.value).split("valid options: ", 1)[1].rstrip(".").split(", ")
    listed = (REPO / "docs" / "data.md").read_text().split("\nOptions: ", 1)[1].split("\n\n", 1)[0]
    assert len(valid) >= 8
    assert [option for option in valid if f"{option}=" not in listed] == []
