"""Host memory kept for reuse: a freed large block must not cost fresh page faults on the next step."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the thresholds are glibc's")

# A fresh interpreter each, so that glibc starts from its defaults. A 64 MiB tensor is made and freed 16 times
# (glibc's heap settles: an aligned block does not fit the hole its predecessor left until holes merge),
# then 8 more, counted in rounds of fresh pages. 64 MiB is above glibc's adaptive 32 MiB ceiling, so by
# default every round maps the block afresh.
CHILD = r"""
import json, resource, torch
SETUP

def rounds():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        block = torch.ones(16 << 20)
        del block
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / ((64 << 20) // 4096)

rounds(); rounds()
print(json.dumps({"applied": applied, "rounds": rounds()}))
"""


def _rounds_after(setup: str, mode: str | None = None) -> dict:
    """Run ``setup`` (which sets ``applied``) in a fresh interpreter, then count the last 8 rounds' fresh pages."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ZOO3D_HOST_MEMORY", None)
    if mode is not None:
        env["ZOO3D_HOST_MEMORY"] = mode
    out = subprocess.run([sys.executable, "-c", CHILD.replace("SETUP", setup)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_freed_block_is_reused_instead_of_mapped_again():
    call = "from zoo3d.host_memory import keep_freed_host_memory\napplied = keep_freed_host_memory()"
    kept, released = _rounds_after(call, "keep"), _rounds_after(call, "release")
    assert kept["applied"] and not released["applied"]
    assert released["rounds"] > 6  # glibc's defaults: the 64 MiB are mapped afresh each time
    assert kept["rounds"] <= 2  # kept: the settled heap serves (nearly) all eight


def test_training_on_the_cpu_keeps_freed_memory():
    """Building a CPU trainer is enough: the rounds after it reuse their pages without a call of its own."""
    trainer = """
import tempfile
from zoo3d.launch import plan_run
from zoo3d.train.engine import Trainer
plan = plan_run("gram", overrides=[])
Trainer(plan.plugin, plan.config, tempfile.mkdtemp(), model_name=plan.spec.name, device="cpu", progress=False)
applied = True"""
    assert _rounds_after(trainer)["rounds"] <= 2


def test_every_zoo3d_command_keeps_freed_memory():
    """The console entry point sets the thresholds before any subcommand runs (here `zoo3d models`)."""
    assert _rounds_after("from zoo3d.cli.main import main\nmain(['models'])\napplied = True")["rounds"] <= 2
