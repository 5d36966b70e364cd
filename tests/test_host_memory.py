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
from zoo3d.host_memory import keep_freed_host_memory
applied = keep_freed_host_memory()

def rounds():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        block = torch.ones(16 << 20)
        del block
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / ((64 << 20) // 4096)

rounds(); rounds()
print(json.dumps({"applied": applied, "rounds": rounds()}))
"""


def _child(mode: str) -> dict:
    env = {**os.environ, "ZOO3D_HOST_MEMORY": mode, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_freed_block_is_reused_instead_of_mapped_again():
    kept, released = _child("keep"), _child("release")
    assert kept["applied"] and not released["applied"]
    assert released["rounds"] > 6  # glibc's defaults: the 64 MiB are mapped afresh each time
    assert kept["rounds"] <= 2  # kept: the settled heap serves (nearly) all eight


TRAINER = r"""
import tempfile
from zoo3d.launch import plan_run
from zoo3d.train.engine import Trainer
plan = plan_run("gram", overrides=[])
Trainer(plan.plugin, plan.config, tempfile.mkdtemp(), model_name=plan.spec.name, device="cpu", progress=False)
"""


def test_training_on_the_cpu_keeps_freed_memory():
    """Building a CPU trainer is enough: the rounds after it reuse their pages without a call of its own."""
    child = CHILD.replace("applied = keep_freed_host_memory()", TRAINER + "applied = True")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ZOO3D_HOST_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", child], env=env, check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1])["rounds"] <= 2
