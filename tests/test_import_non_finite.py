"""``zoo3d import`` of a release holding NaN or Inf (a snapshot of a run that diverged): every command refuses a
checkpoint with non-finite weights, so the import refuses the file in one sentence instead of writing a run that
``zoo3d sample`` then turns down with "take an earlier checkpoint" (an imported run has none)."""

from __future__ import annotations

import pytest
import torch

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASE = FIXTURES / "releases" / "gram_generator.pth"
NAME = "representation.sample_network.network.4.bias"


@pytest.mark.parametrize("values", [(float("nan"),), (float("inf"), float("-inf"), float("nan"))])
def test_a_release_with_non_finite_weights_is_refused_naming_the_tensor_and_the_count(in_tmp, capsys, values):
    state = torch.load(RELEASE, map_location="cpu", weights_only=True)
    for i, value in enumerate(values):
        state[NAME][i] = value
    torch.save(state, in_tmp / "generator.pth")
    code, _, err = zoo3d(capsys, "import", "gram", "generator.pth", "--preset", "tiny", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert line.startswith(f"Error: generator.pth holds non-finite values (NaN or Inf) in its tensor '{NAME}' "
                           f"({len(values)} of {state[NAME].numel()} values)")


def test_finite_weights_of_every_size_import(in_tmp, capsys):
    """The check reads values, not magnitudes: the largest finite float32 is a weight like any other."""
    state = torch.load(RELEASE, map_location="cpu", weights_only=True)
    state[NAME][0] = torch.finfo(torch.float32).max
    torch.save(state, in_tmp / "generator.pth")
    code, _, err = zoo3d(capsys, "import", "gram", "generator.pth", "--preset", "tiny", "--out", "run")
    assert code == 0, err
    assert (in_tmp / "run" / "checkpoints" / "step_000000000.safetensors").is_file()
