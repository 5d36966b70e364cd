"""Device names from the command line: what runs, and one sentence for what cannot."""

import pytest
import torch

from zoo3d.devices import flush_denormals, flushing_denormals, resolve_device
from zoo3d.errors import UserError


def test_cpu_auto_and_a_device_object():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(torch.device("cpu", 0)) == torch.device("cpu", 0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_sentence():
    with pytest.raises(UserError, match="CUDA is not available on this machine"):
        resolve_device("cuda:1")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_without_mps_is_one_sentence_not_a_torch_error_later():
    with pytest.raises(UserError, match="Apple's MPS is not available on this machine"):
        resolve_device("mps")


@pytest.mark.parametrize("name, message", [("gpu", "Unknown device 'gpu'"),
                                           ("xla", "is not one zoo3d runs on"),
                                           ("hpu", "is not one zoo3d runs on")])
def test_other_names_are_refused(name, message):
    with pytest.raises(UserError, match=message):
        resolve_device(name)


SUBNORMAL_MAKER = 2e-38  # a normal float32; a quarter of it is subnormal


@pytest.mark.parametrize("before", [False, True])
def test_flush_denormals_zeroes_subnormals_inside_and_restores_the_mode_after(before):
    torch.set_flush_denormal(before)
    try:
        assert flushing_denormals() is before
        assert (float(torch.tensor([SUBNORMAL_MAKER]) / 4) == 0.0) is before
        with flush_denormals(torch.device("cpu")):
            assert flushing_denormals()
            assert float(torch.tensor([SUBNORMAL_MAKER]) / 4) == 0.0
            assert float(torch.tensor([SUBNORMAL_MAKER]) * 4) == pytest.approx(8e-38)  # normal values untouched
        assert flushing_denormals() is before
        with pytest.raises(ZeroDivisionError), flush_denormals(torch.device("cpu")):
            raise ZeroDivisionError  # restored on the way out of an error too
        assert flushing_denormals() is before
    finally:
        torch.set_flush_denormal(False)


def test_flush_denormals_leaves_the_cpu_alone_for_another_device():
    with flush_denormals(torch.device("meta")):
        assert not flushing_denormals()
        assert float(torch.tensor([SUBNORMAL_MAKER]) / 4) > 0.0
