"""Device names from the command line: what runs, and one sentence for what cannot."""

import pytest
import torch

from zoo3d.devices import resolve_device
from zoo3d.errors import UserError


def test_cpu_auto_and_a_device_object():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


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
