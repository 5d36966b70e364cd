"""A command a sentence prints for the user to run next reads back, through a shell's word splitting, as the command
meant: a run folder with a space in its name stays one argument."""

from __future__ import annotations

import re
import shlex
from types import SimpleNamespace

import pytest
import torch

from test_gram_inverter_model import micro_config

pytestmark = pytest.mark.usefixtures("single_thread")


def test_inverts_command_that_trains_the_run_on_keeps_a_folder_with_spaces_whole(tmp_path):
    """`invert`'s warning for a GRAMInverter run stopped in its first stage, before the encoder trains."""
    from zoo3d.cli.invert import untrained_inverter_note
    from zoo3d.train.checkpoint import checkpoint_name, write_safetensors

    plugin, cfg = micro_config()
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    run = tmp_path / "my runs" / "gi 1"
    path = write_safetensors({"generator.w": torch.zeros(1)},
                             {"zoo3d.model": "gram_inverter", "zoo3d.step": "1", "zoo3d.stage_index": "0",
                              "zoo3d.stage_step": "1"}, run / "checkpoints" / checkpoint_name(1))
    loaded = SimpleNamespace(checkpoint=path, plugin=plugin, config=cfg, modules=modules,
                             spec=SimpleNamespace(name="gram_inverter"))
    note = untrained_inverter_note(loaded, plugin.build_inverter(cfg, modules), "the inversion")
    found = re.search(r"train the run on \(`(.*)`\)\.$", note or "")
    assert found, note
    assert shlex.split(found.group(1)) == ["zoo3d", "train", "gram_inverter", "--out", str(run), "--resume"]
