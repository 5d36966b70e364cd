"""A dataset image past Pillow's decompression-bomb limit (twice ``Image.MAX_IMAGE_PIXELS``: a 200-megapixel phone
photo at Pillow's default) is a problem of that file with its size and the limit, in ``data check`` and in training's
start-up refusal, not PIL's "could be decompression bomb DOS attack". The limit is lowered so that a small photo is
past it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process
from zoo3d.data.check import check_dataset

PAST = ("unreadable image: its 30x20 pixels (600) are more than the 300 Pillow decodes; save a smaller copy (training "
        "resizes every image to its resolution anyway)")


@pytest.fixture
def big(tmp_path, monkeypatch):
    """A GRAM folder of one 30x20 photo (600 pixels) and one 15x20 (300: Pillow only warns), past a limit of 2 x 150."""
    (tmp_path / "poses").mkdir()
    for stem, size in (("wide", (20, 30)), ("ok", (20, 15))):
        Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(tmp_path / f"{stem}.png")
        np.save(tmp_path / "poses" / f"{stem}_pose.npy", np.array([np.pi / 2, np.pi / 2]))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)
    return tmp_path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("full", [False, True])
def test_a_photo_past_pillows_limit_is_a_problem_with_its_size_and_the_limit(big, full):
    report = check_dataset(big, full=full)
    assert [(p.file, p.problem) for p in report.problems] == [("wide.png", PAST)]
    assert report.usable_count == 1
    assert Image.MAX_IMAGE_PIXELS == 150  # the header read left the limit as it was


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_training_names_it_among_the_datasets_problems(big, tmp_path, capsys):
    (big / "ok.png").unlink()
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "tiny", "--steps", "1", "--data", str(big),
                                  "--out", str(tmp_path / "run"))
    assert code == 2 and f"wide.png: {PAST}" in err
    assert not (tmp_path / "run").exists()
