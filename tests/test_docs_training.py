"""The recipe figures README.md and docs/training.md give in prose, against the presets and the step split.

Each figure is read from the page's own sentence (so an edit of the page is checked too) and compared with the
config the named preset loads to, or with ``split_steps`` for the page's worked ``--steps`` example. A preset
whose steps, batch or resolution change without the page, or the page without the preset, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo3d.config import load_run_config
from zoo3d.plugins import get_host
from zoo3d.train.schedule import split_steps, stage_ends, stages_ahead

ROOT = Path(__file__).resolve().parents[1]


def _prose(path: Path) -> str:
    """The page with its line breaks as spaces, so a sentence wrapped over lines reads whole."""
    return re.sub(r"\s*\n\s*", " ", path.read_text(encoding="utf-8"))


def _config(model: str, preset: str | None = None):
    spec = get_host().models.get(model)
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset or spec.default_preset,
                           None, []), spec


def test_readmes_demo_paragraph_is_the_demo_and_tiny_presets():
    match = re.search(r"the GRAM generator at (\d+)² for (\d+) steps instead of (\d+), then manifold "
                      r"super-resolution to (\d+)² for (\d+) steps instead of (\d+)", _prose(ROOT / "README.md"))
    assert match, "README.md's demo paragraph no longer states the demo preset's stages"
    lr, demo1, tiny1, hr, demo2, tiny2 = map(int, match.groups())
    demo, spec = _config("gram_hd", "demo")
    tiny, _ = _config("gram_hd", "tiny")
    assert "demo" in spec.roles                                  # what `zoo3d demo` trains
    assert [s.steps for s in demo.stages] == [demo1, demo2]
    assert [s.steps for s in tiny.stages] == [tiny1, tiny2]
    assert (demo.generator.lowres.resolution, demo.generator.resolution) == (lr, hr)


def test_training_mds_every_default_gram_run_is_the_tiny_preset():
    match = re.search(r"`zoo3d train gram` \(every default: `(\w+)` preset, `([\w:]+)`, (\d+) steps of batch (\d+) "
                      r"at (\d+)²\)", _prose(ROOT / "docs" / "training.md"))
    assert match, "training.md no longer states what `zoo3d train gram` trains by default"
    preset, data, steps, batch, resolution = match.groups()
    config, spec = _config("gram")
    assert spec.default_preset == preset
    assert config.data.spec == data
    assert [(s.steps, s.batch_size) for s in config.stages] == [(int(steps), int(batch))]
    assert config.generator.resolution == int(resolution)


def test_training_mds_steps_example_is_the_split_of_gram_hds_tiny_recipe():
    text = _prose(ROOT / "docs" / "training.md")
    match = re.search(r"for GRAM-HD trained with `--steps (\d+)`, one step a stage, and resumed at step (\d+) with "
                      r"`--steps (\d+)`, stage 1 ends at step (\d+) and stage 2 at (\d+)\).*?stage 2 trains steps "
                      r"(\d+) to (\d+) there", text)
    assert match, "training.md's worked --steps example is gone"
    first_cap, resumed, cap, end1, end2, first, last = map(int, match.groups())
    tiny, _ = _config("gram_hd", "tiny")
    lengths = [s.steps for s in tiny.stages]
    assert split_steps(lengths, first_cap) == [1, 1]                  # "one step a stage"
    assert stage_ends(split_steps(lengths, first_cap))[-1] == resumed  # the first run ended there, in stage 2
    assert stage_ends(split_steps(lengths, cap)) == [end1, end2]
    # the checkpoint is in stage 2 (index 1): stage 1 is not trained again although its new end lies ahead
    ahead = stages_ahead(["stage1", "stage2"], split_steps(lengths, cap), stage_index=1, step=resumed)
    assert [name for name, _ in ahead] == ["stage2"]
    assert (first, last) == (resumed + 1, end2) and last == cap
    assert f"`Trained {cap} steps ({cap - resumed} in this run)`" in text  # the sentence that resume ends with
    # and `--steps 3` passes through both stages of the two-stage model, as the paragraph says before
    assert "so `--steps 3` still passes through every stage of a two-stage model" in text
    assert all(n >= 1 for n in split_steps(lengths, 3))
