"""NeuS fit: the pieces behave as in the paper, and the metric ranks a consistent scene above an inconsistent one."""

import pytest
import torch

from zoo3d.cameras import yaw_sweep
from zoo3d.eval.calibration import DegradedGenerator, TexturedSphereGenerator
from zoo3d.eval.image_metrics import psnr
from zoo3d.eval.metric import render_instance
from zoo3d.eval.neus.fields import SDFNetwork
from zoo3d.eval.neus.fit import fit_neus, learning_rate_factor
from zoo3d.eval.neus.metric import NeusMetric
from zoo3d.eval.neus.render import NEUS_TRANSMITTANCE_EPS
from zoo3d.eval.protocol import make_protocol
from zoo3d.render.composite import compositing_weights
from zoo3d.render.samples import sample_pdf
from zoo3d.render.volume import neus_alpha


TWO_DB = 10 ** 0.2  # a power ratio of 2 dB: the margin asked of neus_gain (a squared error)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_geometric_init_is_a_sphere_of_radius_half():
    torch.manual_seed(0)
    net = SDFNetwork(layers=4, hidden=128, feature_dim=8, multires=6)
    dirs = torch.nn.functional.normalize(torch.randn(256, 3), dim=-1)
    means = []
    for r in (0.2, 0.5, 0.9):
        sdf = net.sdf(dirs * r).squeeze(-1).detach()
        assert (sdf - (r - 0.5)).abs().mean() < 0.1
        means.append(float(sdf.mean()))
    assert means[0] < 0 < means[2]  # inside negative, outside positive


def test_opacity_of_a_plane_crossing_matches_the_logistic_cdf():
    # f(t) = 0.5 - t along the ray (a plane at t = 0.5, slope -1): sections before the crossing are
    # transparent, the crossing section takes opacity, and with large s the weights peak at the surface.
    t = torch.linspace(0, 1, 65)[None]
    dists = t[:, 1:] - t[:, :-1]
    mid = t[:, :-1] + dists / 2
    alpha = neus_alpha(0.5 - mid, -torch.ones_like(mid), dists / 2, dists / 2, torch.tensor(500.0))
    w = compositing_weights(alpha, NEUS_TRANSMITTANCE_EPS)
    assert abs(float(mid[0, w.argmax()]) - 0.5) < 1.0 / 64
    assert abs(float(w.sum()) - 1.0) < 1e-3
    assert float(alpha[0, :20].max()) < 1e-3


def test_inverse_cdf_sampling_follows_the_weights():
    bins = torch.linspace(0, 1, 11)[None]
    weights = torch.zeros(1, 10)
    weights[0, 7] = 1.0
    samples = sample_pdf(bins, weights, 16)
    assert ((samples > 0.7 - 1e-3) & (samples < 0.8 + 1e-3)).float().mean() > 0.9


def test_learning_rate_schedule_warms_up_then_decays_to_alpha():
    assert learning_rate_factor(0, 100, 10, 0.05) == 0.0
    assert learning_rate_factor(10, 100, 10, 0.05) == 1.0
    assert abs(learning_rate_factor(100, 100, 10, 0.05) - 0.05) < 1e-9


def test_calibration_neus_ranks_consistent_scene_above_inconsistent():
    """One small instance: NeuS explains the consistent sphere better than the per-view re-textured one."""
    settings = make_protocol("small", neus={"iterations": 300, "batch_rays": 256, "n_coarse": 8, "n_importance": 8,
                                            "upsample_steps": 1, "sdf_hidden": 32, "color_hidden": 32,
                                            "feature_dim": 16, "lr": 5e-3}).neus
    cams = yaw_sweep(6, 0.4)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    scores = {}
    for consistent in (True, False):
        views = render_instance(TexturedSphereGenerator(consistent=consistent), z, cams, 16)["rgb"]
        fit = fit_neus(views, cams, settings, seed=0)
        scores[consistent] = float(psnr(fit.renders, views).mean())
    assert scores[True] > scores[False] + 2.0, scores  # measured: 25.8 vs 20.7 dB


def test_degraded_generator_blurs_without_moving_and_noises_per_camera():
    base = TexturedSphereGenerator(consistent=True)
    cams = yaw_sweep(3, 0.4)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    sharp = render_instance(base, z, cams, 32)["rgb"]
    blurred = render_instance(DegradedGenerator(base, blur=1.5), z, cams, 32)["rgb"]
    detail = lambda x: float((x[..., 1:] - x[..., :-1]).pow(2).mean())  # noqa: E731
    assert detail(blurred) < 0.5 * detail(sharp)
    assert abs(float(blurred.mean() - sharp.mean())) < 0.01          # a low-pass: the mean stays
    noisy = DegradedGenerator(base, noise=0.1)
    a = render_instance(noisy, z, cams, 32)["rgb"]
    b = render_instance(noisy, z, cams[[0, 0, 1]], 32)["rgb"]
    assert torch.equal(a[0], b[0]) and torch.equal(a[0], b[1])       # same camera, same noise
    assert float((a[1] - b[2]).abs().max()) == 0.0
    assert float((a - sharp).std()) > 0.05


def _neus_gain(generators, protocol, key="neus_detail_gain"):
    """``key`` per model name (mean over the protocol's instances) through the metric itself."""
    from zoo3d.eval.metric import EvalContext, EvalModel

    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
    out = {}
    for name, gen in generators.items():
        res = NeusMetric().evaluate(EvalModel(name=name, generator=gen), ctx)
        out[name] = sum(res[key]) / len(res[key])
    return out


def _oracles():
    from zoo3d.eval.harness import load_eval_model
    from zoo3d.plugins import get_host

    if "oracle" not in get_host().models or "oracle_inconsistent" not in get_host().models:
        pytest.skip("the oracle models are not installed")
    return [load_eval_model(n, None, torch.device("cpu")).generator for n in ("oracle", "oracle_inconsistent")]


CI_NEUS = {"iterations": 150, "batch_rays": 256, "n_coarse": 8, "n_importance": 8, "upsample_steps": 1,
           "sdf_hidden": 32, "color_hidden": 32, "feature_dim": 16, "lr": 5e-3}


def test_calibration_neus_gain_ranks_oracle_above_inconsistent_and_blurred_oracle():
    """The calibration in CI: one instance, 24 px, 12 views, a short NeuS fit (~25 s on one core).

    neus_detail_gain (detail-band error of the shuffled-camera fit minus that of the true-camera fit)
    puts the consistent oracle above the 2D-upsampled inconsistent oracle and above the same oracle
    blurred (detail-free; raw NeuS PSNR rewards it: 31.4 vs 21.3 dB). Measured: 0.68, 0.055, 0.042;
    the all-band neus_gain orders them the same way by a smaller factor (3.84, 1.61, 1.67).
    """
    oracle, inconsistent = _oracles()
    protocol = make_protocol("small", instances=1, resolution=24, views=12, neus=CI_NEUS)
    gain = _neus_gain({"oracle": oracle, "inconsistent": inconsistent,
                       "blurred": DegradedGenerator(oracle, blur=1.5)}, protocol)
    assert gain["oracle"] > TWO_DB * gain["inconsistent"], gain
    assert gain["oracle"] > TWO_DB * gain["blurred"], gain


@pytest.mark.slow
def test_calibration_neus_gain_at_the_small_protocol():
    """The full calibration at the default protocol (4 instances, 64 px, 800 iterations; 55 min on
    one core for the four models): non-overlapping mean +- std and a 2 dB ratio, blur below, noise no better than
    a tie. Its figures are printed as the rows of docs/metrics.md's calibration table (``pytest -rP`` shows them)."""
    import statistics

    from zoo3d.eval.metric import EvalContext, EvalModel

    oracle, inconsistent = _oracles()
    protocol = make_protocol("small")
    assert protocol.instances >= 4
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
    stats = {}
    for name, gen in {"oracle": oracle, "inconsistent": inconsistent,
                      "blurred": DegradedGenerator(oracle, blur=1.5),
                      "noisy": DegradedGenerator(oracle, noise=0.1)}.items():
        result = NeusMetric().evaluate(EvalModel(name=name, generator=gen), ctx)
        values = result["neus_detail_gain"]
        stats[name] = (statistics.mean(values), statistics.stdev(values))
        print(f"| {name} | " + " | ".join(f"{key} {statistics.mean(v):.4g} ± {statistics.stdev(v):.2g} "
                                           f"({', '.join(f'{x:.4g}' for x in v)})" for key, v in result.items()
                                           if key.startswith("neus_")) + " |", flush=True)
    (m_good, s_good), (m_bad, s_bad) = stats["oracle"], stats["inconsistent"]
    assert m_good - s_good > m_bad + s_bad, stats
    assert m_good > TWO_DB * m_bad, stats
    assert m_good > stats["blurred"][0], stats
    # per-view noise is left by both fits and cancels: it earns nothing; epi is the metric that punishes it
    assert stats["noisy"][0] < m_good + s_good, stats
