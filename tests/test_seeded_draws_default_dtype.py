"""Every seeded draw zoo3d makes is drawn in float32 whatever torch's default dtype, so a script that sets
``torch.set_default_dtype(torch.float64)`` gets the same truncation centres, SWD directions, stand-in feature
network and calibration noise as everyone else (a float64 draw gives other numbers from the same seed).

Each case computes its value twice on the same float32 module or inputs: under the float32 default, then under a
float64 default."""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.eval.calibration import view_noise
from zoo3d.eval.fid import StandInExtractor
from zoo3d.eval.swd import sliced_wasserstein
from zoo3d.nn.mapping import MappingNetwork
from zoo3d.nn.siren import PiGanMappingNetwork


def _seeded(seed: int = 3) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _w_avg():
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=6, w_dim=5, num_layers=2)
    return lambda: mapping.compute_w_avg(64, generator=_seeded()).clone()


def _film_codes():
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=6, hidden=8, num_film_layers=2, film_dim=4, num_hidden=1)
    return lambda: mapping.average_codes(64, generator=_seeded())


def _stylesdf_mean():
    from zoo3d_stylesdf.network import StyleSDFMapping

    torch.manual_seed(0)
    mapping = StyleSDFMapping(z_dim=6, num_layers=2)
    return lambda: mapping.average(64, seed=3)


def _gram_hd_style_average():
    from zoo3d_gram_hd.superres import StyleRRDBNet

    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=4, out_ch=3, nf=4, nb=1, gc=4, scale=2, z_dim=6, style_hidden=8)
    return lambda: net.compute_style_average(64, generator=_seeded()).clone()


def _tiny_generator(model: str):
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    plugin = spec.load()
    torch.manual_seed(0)
    return plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"]


def _stylesdf_centres():
    gen = _tiny_generator("stylesdf")

    def centres():
        gen._centres = None
        return gen.truncation_centres(64, seed=3)[0].clone()

    return centres


def _gram_inverter_mean_w():
    gen = _tiny_generator("gram_inverter")

    def mean():
        gen._mean_cache = None
        return gen.mean_latent().clone()

    return mean


def _swd_directions():
    a, b = torch.randn(40, 12, generator=_seeded(1)), torch.randn(40, 12, generator=_seeded(2))
    return lambda: sliced_wasserstein(a, b, _seeded())


def _stand_in_features():
    return lambda: StandInExtractor(seed=0, dim=8).convs[0].weight.detach().float()


def _calibration_noise():
    cams = Camera.from_angles(torch.tensor([0.1, -0.2]), torch.tensor([0.0, 0.05]), radius=2.7)
    return lambda: view_noise(cams, 3, 4, 4)


CASES = {"MappingNetwork.compute_w_avg": _w_avg, "PiGanMappingNetwork.average_codes": _film_codes,
         "StyleSDFMapping.average": _stylesdf_mean, "StyleRRDBNet.compute_style_average": _gram_hd_style_average,
         "StyleSDFGenerator.truncation_centres": _stylesdf_centres, "EfficientGRAM.mean_latent": _gram_inverter_mean_w,
         "sliced_wasserstein": _swd_directions, "StandInExtractor": _stand_in_features,
         "view_noise": _calibration_noise}


@pytest.mark.parametrize("name", list(CASES))
def test_a_seeded_draw_is_the_same_under_a_float64_default_dtype(name):
    compute = CASES[name]()
    single = compute()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        double = compute()
    finally:
        torch.set_default_dtype(previous)
    assert float(single.abs().max()) > 0
    torch.testing.assert_close(double.to(single.dtype), single, rtol=0, atol=0)
