"""A ``--data`` folder of a single usable image for a distribution metric: it passed the pre-flight (it is a usable
dataset) and was refused only when the metric came to score it, after every metric listed before it had run on
the first model (for ``--metric neus,swd``, the first model's NeuS fits). metrics.md: what ``--data`` lacks fails
in a second, before any model is loaded."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.eval.protocol import make_protocol


@pytest.fixture
def heads(tmp_path, capsys):
    """Folders of one and of two synthetic heads (32 px, zoo3d format), made as a user makes them."""
    for count in (1, 2):
        code, _, err = zoo3d(capsys, "data", "synth", "--count", count, "--resolution", 32, "--out",
                             tmp_path / f"heads{count}")
        assert code == 0, err
    return tmp_path


def test_one_image_is_refused_before_any_model_loads(heads, monkeypatch, capsys):
    import zoo3d.eval.harness as harness

    loads: list = []
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: loads.append(a))
    folder = heads / "heads1"
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi,swd", "--data", folder)
    assert code == 2 and loads == [] and out == ""
    assert err.strip() == (f"Error: Dataset '{folder}' holds 1 usable image; swd compares sets of images and needs "
                           f"at least 2."), err


def test_each_distribution_metric_names_itself_and_two_images_pass(heads):
    from zoo3d.eval.harness import load_metrics

    protocol = make_protocol("small", resolution=32)
    for name, metric in load_metrics(["swd", "diversity", "detail"]).items():
        with pytest.raises(UserError, match=rf"holds 1 usable image; {name} compares sets of images"):
            metric.check(protocol, {"data": str(heads / "heads1")})
        metric.check(protocol, {"data": str(heads / "heads2")})  # a set, however small: used whole, with a note
        metric.check(protocol, {"data": "synthetic:heads"})  # a registered dataset is not counted here
