"""The diversity metric: 0 for identical samples, ~1 for the dataset against itself, low for a collapsed generator."""

import pytest
import torch

from zoo3d.eval.diversity import diversity, diversity_features, face_features, mean_pairwise_distance
from zoo3d.eval.protocol import make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")

RES = 32
N = 48

# heads_32px (conftest): items 0-95 at 32 px; here two disjoint draws of N, 0-47 and 48-95


def test_mean_pairwise_distance_of_known_points():
    # three points on a line at 0, 3, 4: pairs 3, 4, 1 -> mean 8 / 3
    pts = torch.tensor([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    assert mean_pairwise_distance(pts) == pytest.approx(8 / 3, abs=1e-12)
    for block in (1, 3, 4, 7):  # a row at a time, two, or all at once: the same mean
        assert mean_pairwise_distance(pts, block=block) == pytest.approx(8 / 3, abs=1e-12)
    many = torch.randn(50, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert mean_pairwise_distance(many, block=120) == pytest.approx(mean_pairwise_distance(many), rel=1e-12)


def test_identical_samples_score_zero(heads_32px):
    same = heads_32px[5:6].expand(N, -1, -1, -1)
    out = diversity(same, heads_32px[:N])
    assert out["score"] == pytest.approx(0.0, abs=1e-9) and out["face"] == pytest.approx(0.0, abs=1e-9)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in out["groups"].values())


def test_the_dataset_against_itself_scores_one(heads_32px):
    out = diversity(heads_32px[N:], heads_32px[:N])  # two disjoint draws
    assert 0.85 < out["score"] < 1.15, out
    assert all(0.75 < v < 1.3 for v in out["groups"].values()), out
    assert 0.8 < out["face"] < 1.25, out


def test_the_face_score_ignores_the_background_and_sees_the_face(heads_32px):
    """One head on varied random backgrounds is varied as a whole and not at all in the face crop."""
    n, res = N, heads_32px.shape[-1]
    g = torch.Generator().manual_seed(3)
    inner = torch.zeros(1, 1, res, res, dtype=torch.bool)
    inner[..., res // 4:res - res // 4, res // 4:res - res // 4] = True
    backgrounds = (torch.rand(n, 3, 1, 1, generator=g) * 2 - 1) + 0.3 * torch.randn(n, 3, res, res, generator=g)
    one_face = torch.where(inner, heads_32px[5:6], backgrounds.clamp(-1, 1))
    out = diversity(one_face, heads_32px[:N])
    assert out["score"] > 0.5 and out["face"] == pytest.approx(0.0, abs=1e-9), out
    # the same backgrounds around every dataset face: the face score is the dataset's own spread
    faces = torch.where(inner, heads_32px[N:], backgrounds.clamp(-1, 1))
    assert 0.8 < diversity(faces, heads_32px[:N])["face"] < 1.25
    # the crop: colour statistics of the central half
    crop = heads_32px[:3, :, res // 4:res - res // 4, res // 4:res - res // 4]
    want = torch.cat([crop.mean(dim=(2, 3)), crop.flatten(2).std(dim=2),
                      crop.reshape(3, 3, 2, res // 4, 2, res // 4).mean(dim=(3, 5)).flatten(1)], dim=1).double()
    torch.testing.assert_close(face_features(heads_32px[:3]), want, rtol=1e-6, atol=1e-6)


def test_each_feature_group_sees_its_kind_of_variety(heads_32px):
    base = heads_32px[:N]
    ref = diversity_features(base)
    # recolouring every image by its own random gain spreads colour and layout
    gain = 0.6 + 0.8 * torch.rand(N, 3, 1, 1, generator=torch.Generator().manual_seed(1))
    tinted = diversity_features((base + 1) * gain - 1)
    for g in ("colour", "layout"):
        assert mean_pairwise_distance(tinted[g]) > 1.2 * mean_pairwise_distance(ref[g])
    # blurring every image removes texture energy and its spread
    blurred = diversity_features(torch.nn.functional.avg_pool2d(base, 3, 1, 1))
    assert mean_pairwise_distance(blurred["texture"]) < 0.7 * mean_pairwise_distance(ref["texture"])


def test_a_collapsed_generator_scores_far_below_the_oracle(heads_32px):
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
    options = {"real_images": {RES: heads_32px[:N]}}
    scores = {}
    for psi in (1.0, 0.0):
        protocol = make_protocol("small", resolution=RES, distribution_images=N, psi_distribution=psi)
        models = [oracle] if psi == 0.0 else [oracle, collapsed]
        result = compare_models(models, load_metrics(["diversity"]), protocol, "cpu", options=dict(options))
        for name, row in result["models"].items():
            scores[(name, psi)] = row["diversity"]["mean"]
            scores[(name, psi, "face")] = row["diversity_face"]["mean"]
        assert result["protocol"]["metrics"]["diversity"]["psi"] == psi
    assert 0.85 < scores[("oracle", 1.0)] < 1.15, scores        # measured: 1.03 (128 images, 64 px)
    assert scores[("oracle", 0.0)] < 0.4 * scores[("oracle", 1.0)], scores       # measured: 0.25
    assert scores[("collapsed", 1.0)] < 0.4 * scores[("oracle", 1.0)], scores    # measured: 0.19
    assert 0.8 < scores[("oracle", 1.0, "face")] < 1.25, scores
    assert scores[("collapsed", 1.0, "face")] < 0.5 * scores[("oracle", 1.0, "face")], scores  # 32 px: 0.35 vs 0.87


def _smooth(n, res, seed):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 6, 6, generator=g) * 2 - 1
    up = torch.nn.functional.interpolate(low, size=(res, res), mode="bicubic", align_corners=False)
    return (up + 0.1 * torch.randn(n, 3, res, res, generator=g)).clamp(-1, 1)


def test_features_are_thumbnail_colour_statistics_and_band_energy():
    from zoo3d.eval.swd import laplacian_pyramid

    x = _smooth(3, 64, seed=2)
    f = diversity_features(x)
    assert {k: v.dtype for k, v in f.items()} == dict.fromkeys(("layout", "colour", "texture"), torch.float64)
    # layout: 8x8 block means, channel-major
    blocks = x.reshape(3, 3, 8, 8, 8, 8).mean(dim=(3, 5)).flatten(1).double()
    torch.testing.assert_close(f["layout"], blocks, rtol=1e-6, atol=1e-6)
    # colour: channel means, unbiased channel stds, then the four quadrant means per channel
    quads = x.reshape(3, 3, 2, 32, 2, 32).mean(dim=(3, 5)).flatten(1)
    want = torch.cat([x.mean(dim=(2, 3)), x.flatten(2).std(dim=2, correction=1), quads], dim=1).double()
    torch.testing.assert_close(f["colour"], want, rtol=1e-6, atol=1e-6)
    # texture: RMS of the three band-pass levels (64, 32, 16 px) per channel, band by band
    bands = laplacian_pyramid(x, min_res=8)
    assert [b.shape[-1] for b in bands] == [64, 32, 16, 8]
    rms = [[float(b[i, c].pow(2).mean().sqrt()) for b in bands[:3] for c in range(3)] for i in range(3)]
    torch.testing.assert_close(f["texture"], torch.tensor(rms, dtype=torch.float64), rtol=1e-6, atol=0)


def test_images_above_64_px_are_reduced_to_64_px_first():
    x = _smooth(2, 128, seed=3)
    reduced = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    big, small = diversity_features(x), diversity_features(reduced)
    for g in ("layout", "colour", "texture"):
        torch.testing.assert_close(big[g], small[g], rtol=0, atol=0)
    assert diversity_features(x[..., :32, :32])["texture"].shape == (2, 6)  # 32 px: two bands, not resized


def test_mean_pairwise_distance_equals_the_plain_double_loop():
    pts = torch.randn(9, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    pts[3] = pts[7]  # a repeated sample contributes exactly 0
    pairs = [float((pts[i] - pts[j]).norm()) for i in range(9) for j in range(i + 1, 9)]
    assert mean_pairwise_distance(pts) == pytest.approx(sum(pairs) / len(pairs), rel=1e-12)
    assert mean_pairwise_distance(pts[:2]) == pytest.approx(float((pts[0] - pts[1]).norm()), rel=1e-12)
    assert mean_pairwise_distance(pts[[3, 7]]) == 0.0
    with pytest.raises(ValueError, match="^mean pairwise distance needs at least two samples$"):
        mean_pairwise_distance(pts[:1])


def test_a_set_scaled_by_half_about_any_colour_is_half_as_varied():
    """Every feature group is translation-invariant and 1-homogeneous in the image, so each ratio is 0.5."""
    ref = _smooth(12, 32, seed=5)
    out = diversity(0.5 * ref + 0.2, ref)
    assert out["score"] == pytest.approx(0.5, abs=1e-6)
    assert list(out["groups"]) == ["layout", "colour", "texture"]
    assert all(v == pytest.approx(0.5, abs=1e-6) for v in out["groups"].values()), out
    assert out["face"] == pytest.approx(0.5, abs=1e-6)
    swapped = diversity(ref, 0.5 * ref)
    assert swapped["score"] == pytest.approx(2.0, abs=1e-5)
    # a dataset of one repeated image has no spread to compare with
    collapsed = diversity(ref, ref[:1].expand(4, -1, -1, -1))
    assert all(v != v for v in collapsed["groups"].values())


def test_the_metric_reports_the_diversity_of_the_protocol_sets(monkeypatch):
    from zoo3d.eval.diversity import FEATURES, DiversityMetric
    from zoo3d.eval.metric import EvalContext, EvalModel

    fake, real = _smooth(5, 32, seed=6), _smooth(5, 32, seed=7)
    monkeypatch.setattr("zoo3d.eval.distribution.protocol_image_sets", lambda model, ctx: (fake, real))
    protocol = make_protocol("small", resolution=32, distribution_images=5, psi_distribution=0.7)
    steps = []
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds, progress=steps.append)
    metric = DiversityMetric()
    expected = diversity(fake, real)
    assert metric.evaluate(EvalModel("m", None), ctx) == {"diversity": [expected["score"]],
                                                          "diversity_face": [expected["face"]],
                                                          "_meta": {"groups": expected["groups"], "features": FEATURES,
                                                                    "generated_images": 5, "real_images": 5}}
    assert metric.result_keys() == ("diversity", "diversity_face")
    assert steps == [1]
    assert metric.name == "diversity" and metric.higher_is_better is True and metric.units == "one"
    assert metric.requires == ("images", "dataset")
    info = metric.protocol_info(ctx)
    assert {k: info[k] for k in ("images", "psi", "features", "groups", "data")} == {
        "images": 5, "psi": 0.7, "features": FEATURES, "groups": ["layout", "colour", "texture"],
        "data": "synthetic:heads"}
    assert info["score"].startswith("mean over groups of mean pairwise distance")
    assert info["face"] == "the colour group's ratio on the central crop of side 0.5"
    ctx.options["data"] = "folder:faces"
    assert metric.protocol_info(ctx)["data"] == "folder:faces"


def test_a_real_set_smaller_than_the_protocols_is_noted_and_recorded_and_one_image_is_refused(heads_32px):
    """A 20-image --data folder was recorded as the protocol's 32 images; a 1-image one, and images below
    16 px, ended in a traceback after the other metrics had run."""
    from zoo3d.errors import UserError
    from zoo3d.eval.diversity import DiversityMetric
    from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics

    oracle = load_eval_model("oracle", None, torch.device("cpu"))
    protocol = make_protocol("small", resolution=RES, distribution_images=8)
    result = compare_models([oracle], load_metrics(["diversity"]), protocol, "cpu",
                            options={"real_images": {RES: heads_32px[:3]}})
    row = result["models"]["oracle"]["diversity"]
    assert (row["generated_images"], row["real_images"]) == (8, 3)
    assert any("holds 3 images, fewer than the protocol's 8: the distribution metrics' real set is those 3" in n
               for n in result["notes"]), result["notes"]
    with pytest.raises(UserError, match="holds 1 image; diversity compares sets of images and needs at least 2"):
        compare_models([oracle], load_metrics(["diversity"]), protocol, "cpu",
                       options={"real_images": {RES: heads_32px[:1]}})
    with pytest.raises(UserError, match="diversity needs images of at least 16 px"):
        DiversityMetric().check(make_protocol("small", resolution=12), {})
    DiversityMetric().check(make_protocol("small", resolution=16), {})  # the smallest it takes
