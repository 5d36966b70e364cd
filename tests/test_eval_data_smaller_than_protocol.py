"""A ``--data`` folder of images smaller than the protocol's resolution: they are upsampled for the distribution
metrics, which lowers the dataset's own fine detail and so raises every model's ``detail`` (the oracle scored 7.4
against a 32 px folder at 64 px, where its own data gives 1), and docs/metrics.md warns of it; the report said
nothing, so a table of such numbers read as any other. A note now says how many images are smaller, and the
smallest side; images as large as the protocol's draw none."""

from __future__ import annotations

import pytest
from PIL import Image

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.distribution import smaller_images
from zoo3d.eval.harness import compare_models, load_metrics
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol


@pytest.fixture
def heads(tmp_path, capsys):
    """Four synthetic heads of 32 px in a zoo3d folder, made as a user makes them."""
    code, _, err = zoo3d(capsys, "data", "synth", "--count", 4, "--resolution", 32, "--out", tmp_path / "heads32")
    assert code == 0, err
    return tmp_path / "heads32"


def _compare(data: str, resolution: int) -> dict:
    protocol = make_protocol("small", instances=1, resolution=resolution, distribution_images=4)
    return compare_models([EvalModel("sphere", TexturedSphereGenerator(True))], load_metrics(["detail"]), protocol,
                          "cpu", options={"data": data})


def test_images_smaller_than_the_protocols_resolution_are_noted(heads):
    result = _compare(str(heads), 48)
    assert result["models"]["sphere"]["detail"]["real_images"] == 4
    assert (f"dataset '{heads}': 4 of its 4 usable images are smaller than the 48 px the models are scored at (the "
            f"smallest 32 px); upsampled, they lower the dataset's own fine detail, which raises every model's detail "
            f"score and moves swd: give a --data at least as large.") in result["notes"], result["notes"]
    assert not any("smaller than" in note for note in _compare(str(heads), 32)["notes"])  # at their own size


def test_the_count_and_the_smallest_side_come_from_the_images_headers(heads):
    first, second = sorted((heads / "images").glob("*.png"))[:2]
    Image.new("RGB", (40, 12)).save(first)  # a wide image: its centred square is 12 px
    Image.new("RGB", (64, 64)).save(second)
    assert smaller_images(str(heads), 48) == (3, 4, 12)
    assert smaller_images(str(heads), 12) is None
    assert smaller_images("synthetic:heads", 4096) is None  # rendered at any resolution
