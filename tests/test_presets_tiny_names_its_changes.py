"""Every tiny (and demo) preset says what it changes from the paper preset it shrinks: each setting whose value
differs from the paper preset's is written in the tiny file (where its comment or the header says why), never
left to a default the reader cannot see. A key the paper preset turns on and the tiny one silently leaves at its
default (GRAM's torch_ema warm-up, EG3D's EMA ramp) is a change nobody reading the tiny file would know of."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec

#: each model's tiny presets and the paper preset their headers compare them with
SHRUNK = {"gram": ("ffhq256", ["tiny"]), "gram_hd": ("ffhq256", ["tiny", "demo"]),
          "gram_inverter": ("ffhq256", ["tiny"]), "pigan": ("celeba", ["tiny"]),
          "stylesdf": ("ffhq1024", ["tiny"]), "triplane": ("ffhq512", ["tiny", "tiny_eg3d"])}


def _settings(node, path=()) -> dict[tuple[str, ...], object]:
    """Every setting of a config by its path of field names (a map such as ``lr`` is one setting; a stage is
    addressed by its name)."""
    if isinstance(node, BaseModel):
        out = {}
        for field in type(node).model_fields:
            out.update(_settings(getattr(node, field), (*path, field)))
        return out
    if isinstance(node, list) and node and all(isinstance(s, BaseModel) and hasattr(s, "name") for s in node):
        out = {}
        for stage in node:
            out.update(_settings(stage, (*path, stage.name)))
        return out
    return {path: node}


def _config(spec, preset):
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset)


def _chain(spec, preset) -> list[dict]:
    """The preset's file and every file it extends (demo says only what it changes from tiny), as read."""
    files, name = [], preset
    while name:
        files.append(yaml.safe_load((Path(spec.presets_dir) / f"{name}.yaml").read_text()) or {})
        name = files[-1].get("extends")
    return files


def _written(node, path) -> bool:
    """Whether the file ``node`` sets the setting at ``path`` (a stage found in its list by name)."""
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = next((s for s in node if isinstance(s, dict) and s.get("name") == part), None)
            if node is None:
                return False
        else:
            return False
    return True


@pytest.mark.parametrize("model, paper, tiny", [(m, p, t) for m, (p, ts) in SHRUNK.items() for t in ts])
def test_every_setting_a_tiny_preset_changes_is_written_in_it(model, paper, tiny):
    """Written at its own place: the key's name elsewhere (``hidden`` of another module, a header comment) is not
    the setting."""
    spec = get_model_spec(model)
    assert paper in spec.presets() and tiny in spec.presets()
    ours, theirs = _settings(_config(spec, tiny)), _settings(_config(spec, paper))
    files = _chain(spec, tiny)
    stages = {s.name for s in _config(spec, tiny).stages} & {s.name for s in _config(spec, paper).stages}
    unwritten = []
    for path, value in ours.items():
        if path[0] == "stages" and path[1] not in stages:  # a stage of another curriculum: written whole
            continue
        if path in theirs and theirs[path] != value and not any(_written(f, path) for f in files):
            unwritten.append(f"{'.'.join(path)}: {theirs[path]!r} in {paper}, {value!r} here")
    assert not unwritten, f"{model}/{tiny} changes settings it does not write: {unwritten}"
