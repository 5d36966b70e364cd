"""Device strings to torch.device on a machine that has (or lacks) each accelerator, and the CUDA-only helpers.

Which accelerators exist is torch's answer (``torch.cuda.is_available`` and its MPS / XPU twins), so each test
sets that answer and checks the device the name resolves to, or the one sentence that refuses it.
"""

import pytest
import torch

from zoo3d.devices import peak_memory_mb, reset_peak_memory, resolve_device, synchronize
from zoo3d.errors import UserError


@pytest.fixture
def cuda_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: False)


def test_no_name_and_an_empty_name_mean_auto(no_accelerator):
    assert resolve_device() == torch.device("cpu")  # the default is "auto", not a device of its own
    assert resolve_device("") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_auto_picks_cuda_when_torch_sees_it(cuda_present):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device() == torch.device("cuda") == resolve_device("")


@pytest.mark.parametrize("name, device", [("cuda", torch.device("cuda")), ("cuda:0", torch.device("cuda", 0)),
                                          ("cuda:3", torch.device("cuda", 3)), ("cpu", torch.device("cpu"))])
def test_device_strings_map_to_the_torch_device_they_name(cuda_present, name, device):
    assert resolve_device(name) == device


@pytest.mark.parametrize("name", ["mps", "xpu", "xpu:1", "meta"])
def test_mps_xpu_and_meta_run_where_torch_has_them(monkeypatch, name):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    assert resolve_device(name) == torch.device(name)


@pytest.mark.parametrize("name, sentence", [
    ("cuda:1", "Device 'cuda:1' was asked for but CUDA is not available on this machine."),
    ("mps", "Device 'mps' was asked for but Apple's MPS is not available on this machine."),
    ("xpu", "Device 'xpu' was asked for but no Intel GPU (XPU) is available on this machine."),
    ("gpu", "Unknown device 'gpu'; use cpu, cuda, cuda:N, mps or auto."),
    ("hpu", "Device 'hpu' is not one zoo3d runs on; use cpu, cuda, cuda:N, mps or auto."),
])
def test_each_refusal_is_its_whole_sentence(no_accelerator, name, sentence):
    with pytest.raises(UserError) as info:
        resolve_device(name)
    assert str(info.value) == sentence


def test_the_cuda_helpers_call_torch_for_a_cuda_device_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d: calls.append(("synchronize", d)))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append(("reset", d)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: calls.append(("peak", d)) or 3 * 2**20 + 2**19)
    gpu, cpu = torch.device("cuda", 1), torch.device("cpu")
    synchronize(cpu), reset_peak_memory(cpu)
    assert peak_memory_mb(cpu) is None and calls == []
    synchronize(gpu), reset_peak_memory(gpu)
    assert peak_memory_mb(gpu) == 3.5  # bytes to MiB
    assert calls == [("synchronize", gpu), ("reset", gpu), ("peak", gpu)]


@pytest.mark.parametrize("device, sentence", [
    (torch.device("cuda"), "Device 'cuda' was asked for but CUDA is not available on this machine."),
    (torch.device("cuda", 1), "Device 'cuda:1' was asked for but CUDA is not available on this machine."),
    (torch.device("mps"), "Device 'mps' was asked for but Apple's MPS is not available on this machine."),
])
def test_a_device_object_is_refused_as_its_name_is(no_accelerator, device, sentence):
    """``load_model(run, device=torch.device("cuda"))`` in a notebook on a machine without CUDA: the sentence the
    name "cuda" gets, where the object was passed through and torch's "Found no NVIDIA driver" came from deep in the
    load."""
    with pytest.raises(UserError) as info:
        resolve_device(device)
    assert str(info.value) == sentence

