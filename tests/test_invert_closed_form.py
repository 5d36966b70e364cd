"""The optimisation inverter against independent computations."""

from __future__ import annotations

import pytest
import torch

from zoo3d.invert import pixel_loss

pytestmark = pytest.mark.usefixtures("single_thread")


def test_pixel_losses_are_per_image_means_of_absolute_and_squared_errors():
    target = torch.tensor([0.5, -0.25])[:, None, None, None].expand(2, 3, 4, 6)
    pred = torch.zeros(2, 3, 4, 6)
    pred[0, 0, 0, 0] = 0.5  # one pixel of image 0 is exact
    n = 3 * 4 * 6
    assert pixel_loss(pred, target).tolist() == pytest.approx([0.5 * (n - 1) / n, 0.25])
    assert pixel_loss(pred, target, "l2").tolist() == pytest.approx([0.25 * (n - 1) / n, 0.0625])
    with pytest.raises(ValueError, match="unknown pixel loss 'L1' \\(l1 or l2\\)"):
        pixel_loss(pred, target, "L1")
