"""The diversity metric: 0 for identical samples, ~1 for the dataset against itself, low for a collapsed generator."""

import pytest
import torch

from zoo3d.eval.diversity import diversity, diversity_features, mean_pairwise_distance
from zoo3d.eval.protocol import make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")

RES = 32
N = 48


@pytest.fixture(scope="module")
def heads():
    """96 ``synthetic:heads`` images at 32 px (items 0-47 and 48-95: two disjoint draws), rendered in one batch."""
    from zoo3d.data.synthetic import SyntheticHeads

    return SyntheticHeads(RES, count=2 * N, cache=False).render(range(2 * N))["image"]


def test_mean_pairwise_distance_of_known_points():
    # three points on a line at 0, 3, 4: pairs 3, 4, 1 -> mean 8 / 3
    pts = torch.tensor([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    assert mean_pairwise_distance(pts) == pytest.approx(8 / 3, abs=1e-12)


def test_identical_samples_score_zero(heads):
    same = heads[5:6].expand(N, -1, -1, -1)
    out = diversity(same, heads[:N])
    assert out["score"] == pytest.approx(0.0, abs=1e-9)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in out["groups"].values())


def test_the_dataset_against_itself_scores_one(heads):
    out = diversity(heads[N:], heads[:N])  # two disjoint draws
    assert 0.85 < out["score"] < 1.15, out
    assert all(0.75 < v < 1.3 for v in out["groups"].values()), out


def test_each_feature_group_sees_its_kind_of_variety(heads):
    base = heads[:N]
    ref = diversity_features(base)
    # recolouring every image by its own random gain spreads colour and layout
    gain = 0.6 + 0.8 * torch.rand(N, 3, 1, 1, generator=torch.Generator().manual_seed(1))
    tinted = diversity_features((base + 1) * gain - 1)
    for g in ("colour", "layout"):
        assert mean_pairwise_distance(tinted[g]) > 1.2 * mean_pairwise_distance(ref[g])
    # blurring every image removes texture energy and its spread
    blurred = diversity_features(torch.nn.functional.avg_pool2d(base, 3, 1, 1))
    assert mean_pairwise_distance(blurred["texture"]) < 0.7 * mean_pairwise_distance(ref["texture"])


def test_a_collapsed_generator_scores_far_below_the_oracle(heads):
    """Through the harness: the oracle at psi 1 is as varied as the data; one head in many poses, or psi 0, is not."""
    from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
    from zoo3d.eval.metric import EvalModel

    oracle = load_eval_model("oracle", None, torch.device("cpu"))
    gen = oracle.generator

    class OneHead(type(gen)):
        """The oracle with every latent replaced by one fixed latent (cameras still from the prior)."""

        def sample_z(self, n, generator=None, device=None):
            super().sample_z(n, generator=generator, device=device)  # keep the camera draws aligned
            return super().sample_z(1, generator=torch.Generator().manual_seed(7), device=device).expand(n, -1)

    collapsed = EvalModel("collapsed", OneHead(gen.config))
    options = {"real_images": {RES: heads[:N]}}
    scores = {}
    for psi in (1.0, 0.0):
        protocol = make_protocol("small", resolution=RES, distribution_images=N, psi_distribution=psi)
        models = [oracle] if psi == 0.0 else [oracle, collapsed]
        result = compare_models(models, load_metrics(["diversity"]), protocol, "cpu", options=dict(options))
        for name, row in result["models"].items():
            scores[(name, psi)] = row["diversity"]["mean"]
        assert result["protocol"]["metrics"]["diversity"]["psi"] == psi
    assert 0.85 < scores[("oracle", 1.0)] < 1.15, scores        # measured: 1.03 (128 images, 64 px)
    assert scores[("oracle", 0.0)] < 0.4 * scores[("oracle", 1.0)], scores       # measured: 0.25
    assert scores[("collapsed", 1.0)] < 0.4 * scores[("oracle", 1.0)], scores    # measured: 0.19
