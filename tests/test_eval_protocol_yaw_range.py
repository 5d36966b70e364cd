"""A yaw range of 0 is refused: the sweep is then one camera repeated, so ``neus``, ``epi`` and ``depth`` compare a
view with itself and every model passes (``compare --models oracle,oracle_inconsistent --metric epi,depth --set
epi_yaw_range=0 --set depth_yaw_range=0`` gave both oracles epi 0 and ranked the inconsistent one ahead on depth)."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import run_in_process as zoo3d
from zoo3d.cameras import yaw_sweep
from zoo3d.errors import ConfigError
from zoo3d.eval.protocol import build_protocol


def test_a_sweep_over_a_yaw_range_of_0_is_one_camera_repeated():
    """Why 0 is no range: every view of the sweep is the first one, so nothing can be inconsistent between them."""
    cams = yaw_sweep(5, 0.0, radius=2.7, fov=12.0).cam2world
    assert torch.equal(cams, cams[:1].expand_as(cams))


@pytest.mark.parametrize("key", ["yaw_range", "epi_yaw_range", "depth_yaw_range"])
def test_a_yaw_range_of_0_is_refused_naming_the_key_and_the_bound(key):
    with pytest.raises(ConfigError, match=f"'{key}' in the protocol \\(--set\\): input should be greater than 0"):
        build_protocol("small", sets=[f"{key}=0"])
    assert getattr(build_protocol("small", sets=[f"{key}=0.01"]), key) == 0.01  # any turn at all is a range
    assert getattr(build_protocol("small", sets=[f"{key}={math.pi!r}"]), key) == math.pi


def test_compare_refuses_it_with_exit_status_2_before_any_model_is_loaded(capsys, monkeypatch):
    import zoo3d.eval.harness as harness

    monkeypatch.setattr(harness, "load_eval_model", lambda *a: pytest.fail("a model was loaded"))
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi,depth",
                           "--set", "epi_yaw_range=0", "--instances", "1", "--resolution", "16", "--device", "cpu")
    assert code == 2 and out == ""
    assert "'epi_yaw_range' in the protocol (--set): input should be greater than 0" in err
