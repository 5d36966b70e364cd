"""``compare_models`` takes its device as ``zoo3d compare --device`` does: a name (``auto`` included) or a
``torch.device``, with a device the machine lacks refused in the command's sentence; it refuses a model loaded on
another device, and scores in float32 whatever torch's default dtype, as the command does.

A notebook passes ``load_model``'s own default, ``"auto"``, on to ``compare_models``; the harness built
``torch.device("auto")`` itself, and torch's "Expected one of cpu, cuda, ipu, xpu, ..." came back.
"""

from types import SimpleNamespace

import pytest
import torch

from zoo3d.errors import UserError
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
from zoo3d.eval.protocol import make_protocol


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def scored(device):
    oracle = load_eval_model("oracle", None, "cpu")
    protocol = make_protocol("small", instances=1, resolution=16, depth_views=3)
    return compare_models([oracle], load_metrics(["depth"]), protocol, device)


def test_auto_and_a_device_object_score_on_the_device_they_resolve_to(no_accelerator):
    by_name = scored("cpu")
    for device in ("auto", torch.device("cpu")):
        result = scored(device)
        assert result["protocol"]["device"] == "cpu"  # recorded as the device it ran on, not as "auto"
        assert result["models"] == by_name["models"] and result["models"]["oracle"]["depth"]["n"] == 1


def test_a_device_the_machine_lacks_is_the_commands_sentence(no_accelerator):
    """The sentence ``resolve_device`` gives a name or a ``torch.device`` (tests/test_devices_resolution.py)."""
    with pytest.raises(UserError) as info:
        scored("cuda")
    assert str(info.value) == "Device 'cuda' was asked for but CUDA is not available on this machine."


def test_a_model_on_another_device_is_refused_before_anything_is_scored(no_accelerator):
    """``load_model(run)`` puts a model on the GPU where there is one (``auto``), and docs/training.md's snippet
    then compares it on ``"cpu"``: the metrics draw their latents on the comparison's device, and the first render
    stopped in torch with tensors on two devices. The meta device stands in for the GPU on a machine without one."""
    from zoo3d.eval.metric import EvalModel

    oracle = load_eval_model("oracle", None, "cpu")
    elsewhere = EvalModel("elsewhere", load_eval_model("oracle", None, "meta").generator)
    protocol = make_protocol("small", instances=1, resolution=16, depth_views=3)
    ticks: list[int] = []
    with pytest.raises(UserError) as info:
        compare_models([oracle, elsewhere], load_metrics(["depth"]), protocol, "cpu", progress=ticks.append)
    assert str(info.value) == ("Model 'elsewhere' is on device 'meta' and the comparison runs on 'cpu'; load it there "
                               "(load_model(..., device='cpu')) or compare on 'meta'.")
    assert ticks == []  # the oracle before it was not scored either
    assert scored("cpu:0")["models"]["oracle"]["depth"]["n"] == 1  # cpu:0 is the cpu


class OnGpu(torch.nn.Module):
    """A stand-in whose weights lie on GPU ``index``: the check reads only the device of the first of them."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def parameters(self, recurse=True):
        yield SimpleNamespace(device=torch.device("cuda", self.index))


def test_a_model_on_another_gpu_than_the_comparisons_is_refused(monkeypatch):
    """On a machine with two GPUs, a model loaded on ``cuda:1`` and compared on ``cuda:0``, or on ``cuda`` (torch's
    current GPU, here the first), is refused as one on another kind of device is; one on the GPU it names is not."""
    from zoo3d.eval.harness import refuse_models_elsewhere
    from zoo3d.eval.metric import EvalModel

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    second = EvalModel("second", OnGpu(1))
    for device in ("cuda:0", "cuda"):
        with pytest.raises(UserError) as info:
            refuse_models_elsewhere([second], torch.device(device))
        assert str(info.value) == (f"Model 'second' is on device 'cuda:1' and the comparison runs on '{device}'; load "
                                   f"it there (load_model(..., device='{device}')) or compare on 'cuda:1'.")
    refuse_models_elsewhere([second], torch.device("cuda", 1))
    refuse_models_elsewhere([EvalModel("first", OnGpu(0))], torch.device("cuda"))


def test_the_scores_are_the_commands_whatever_default_dtype_the_caller_set():
    """A notebook's ``torch.set_default_dtype(torch.float64)`` made the metrics' own tensors float64: the oracle's
    ``epi`` at 16 px over 8 frames read 7.42 instead of 14.34, ``depth`` 9.84 instead of 10.13."""
    oracle = load_eval_model("oracle", None, "cpu")
    protocol = make_protocol("small", instances=1, resolution=16, depth_views=3, epi_frames=8)
    metrics = load_metrics(["depth", "epi"])
    expected = compare_models([oracle], metrics, protocol, "cpu")["models"]
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert compare_models([oracle], metrics, protocol, "cpu")["models"] == expected
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(before)


def test_metric_names_and_a_protocol_name_in_place_of_the_objects_are_one_sentence_each():
    """``load_metrics("depth")`` looked up its first letter ("Unknown metric 'd'"); ``compare_models`` given the names
    ``["depth"]`` or the protocol's name ``"small"`` stopped with an AttributeError."""
    from zoo3d.errors import UserError

    oracle = load_eval_model("oracle", None, "cpu")
    with pytest.raises(UserError) as info:
        load_metrics("depth,epi")
    assert str(info.value) == ("load_metrics('depth,epi') is given one text; give a list of names, such as "
                               "load_metrics(['depth', 'epi']).")
    with pytest.raises(UserError) as info:
        compare_models([oracle], ["depth"], make_protocol("small"), "cpu")
    assert str(info.value) == ("compare_models takes its metrics as load_metrics gives them, such as "
                               "load_metrics(['depth']), not a list.")
    with pytest.raises(UserError) as info:
        compare_models([oracle], load_metrics(["depth"]), "small", "cpu")
    assert str(info.value) == ("compare_models takes a protocol as make_protocol gives it, such as "
                               "make_protocol('small'), not a str.")
