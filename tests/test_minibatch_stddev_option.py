"""``discriminator.mbstd_group``: every CoordConv discriminator a model builds gets the minibatch-stddev map.

Off (0) by default, as upstream, and set by no preset for a CoordConv D: an ablation lever (docs/training.md, "Learning
curves and what was tried").
"""

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.plugins import get_model_spec
from zoo3d_pigan.discriminator import ProgressiveCoordConvDiscriminator

pytestmark = pytest.mark.usefixtures("single_thread")

COORDCONV = (CoordConvDiscriminator, ProgressiveCoordConvDiscriminator)


def _coordconv_ds(model: str, *overrides: str) -> dict[str, torch.nn.Module]:
    spec = get_model_spec(model)
    plugin = spec.load()
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset="tiny", overrides=list(overrides))
    torch.manual_seed(0)
    return {k: m for k, m in plugin.build(config).items() if isinstance(m, COORDCONV)}


@pytest.mark.parametrize("model, count, extra", [("gram", 1, ()), ("gram_hd", 2, ()), ("stylesdf", 1, ()), ("pigan", 1, ()),
                                                 ("gram_inverter", 1, ("discriminator.architecture=gram",))])
def test_the_option_reaches_every_coordconv_discriminator(model, count, extra):
    on = _coordconv_ds(model, "discriminator.mbstd_group=2", *extra)
    off = _coordconv_ds(model, "discriminator.mbstd_group=0", *extra)
    assert len(on) == count
    for name, d in on.items():
        assert d.mbstd_group == 2 and off[name].mbstd_group == 0
        assert d.final.in_channels == off[name].final.in_channels + 1


def test_progressive_discriminator_scores_a_sample_against_its_group():
    """Groups are samples {i, i + B/g}: changing sample 2 moves sample 0's logit and nobody else's."""
    torch.manual_seed(0)
    d = ProgressiveCoordConvDiscriminator(16, channel_scale=1 / 64, mbstd_group=2)
    images = torch.randn(4, 3, 8, 8)
    other = images.clone()
    other[2] = torch.randn(3, 8, 8)
    moved = (d(other).logit - d(images).logit).flatten()
    assert moved[0].abs() > 1e-6 and moved[1] == 0 and moved[3] == 0
    same = d(images[:1].expand(4, 3, 8, 8)).logit.flatten()
    plain = ProgressiveCoordConvDiscriminator(16, channel_scale=1 / 64)
    assert torch.equal(same, same[:1].expand(4)) and plain.final.in_channels == d.final.in_channels - 1
