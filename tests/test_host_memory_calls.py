"""Which mallopt calls keeping freed host memory makes, and when it makes none.

glibc is replaced by a recorder, so each test sees the exact (parameter, value) pairs: M_TRIM_THRESHOLD is -1 and
M_MMAP_THRESHOLD is -3 in glibc's malloc.h; the thresholds are 1 GiB and 256 MiB. test_host_memory.py measures the
effect of the real calls (page faults) in fresh interpreters.
"""

from __future__ import annotations

import ctypes
from types import SimpleNamespace

import pytest

import zoo3d.host_memory as host_memory

TRIM_1_GIB = (-1, 1 << 30)  # (M_TRIM_THRESHOLD, bytes)
MMAP_256_MIB = (-3, 256 << 20)  # (M_MMAP_THRESHOLD, bytes)


class FakeLibc:
    """ctypes.CDLL's stand-in: records what is opened and every mallopt call, answering 1 (glibc's success)."""

    def __init__(self, answers=None):
        self.opened, self.calls, self.answers = [], [], answers or {}

        def mallopt(param, value):  # a function, so that argtypes and restype can be declared on it
            self.calls.append((param, value))
            return self.answers.get(param, 1)

        self.lib = SimpleNamespace(mallopt=mallopt)

    def CDLL(self, name):
        self.opened.append(name)
        return self.lib


@pytest.fixture
def libc(monkeypatch):
    """A fresh process's state on glibc Linux, with glibc recorded."""
    fake = FakeLibc()
    monkeypatch.setattr(host_memory, "_applied", None)
    monkeypatch.setattr(host_memory, "ctypes", SimpleNamespace(CDLL=fake.CDLL, c_int=ctypes.c_int))
    monkeypatch.setattr(host_memory, "platform",
                        SimpleNamespace(system=lambda: "Linux", libc_ver=lambda: ("glibc", "2.35")))
    monkeypatch.delenv(host_memory.ENV, raising=False)
    return fake


def test_both_thresholds_are_raised_through_the_process_own_glibc(libc):
    assert host_memory.keep_freed_host_memory() is True
    assert libc.opened == [None]  # CDLL(None): the symbols already loaded in this process
    assert libc.calls == [TRIM_1_GIB, MMAP_256_MIB]
    # declared int(int, int), so that a value is passed and read back as a C int whatever ctypes would guess
    assert libc.lib.mallopt.argtypes == [ctypes.c_int, ctypes.c_int] and libc.lib.mallopt.restype is ctypes.c_int


def test_it_is_applied_once_per_process_and_its_answer_kept(libc):
    assert host_memory.keep_freed_host_memory() and host_memory.keep_freed_host_memory()
    assert libc.calls == [TRIM_1_GIB, MMAP_256_MIB] and libc.opened == [None]


def test_a_refusal_is_kept_too_and_not_retried(libc):
    libc.answers[-1] = 0
    assert host_memory.keep_freed_host_memory() is False
    assert host_memory.keep_freed_host_memory() is False
    assert libc.calls == [TRIM_1_GIB]  # refused: the mmap threshold is not set after it, nor tried again


def test_glibc_refusing_the_mmap_threshold_is_false(libc):
    libc.answers[-3] = 0
    assert host_memory.keep_freed_host_memory() is False
    assert libc.calls == [TRIM_1_GIB, MMAP_256_MIB]


@pytest.mark.parametrize("value", ["release", " Release\n", "RELEASE"])
def test_release_leaves_glibc_alone(libc, monkeypatch, value):
    monkeypatch.setenv("ZOO3D_HOST_MEMORY", value)
    assert host_memory.keep_freed_host_memory() is False
    assert libc.opened == [] and libc.calls == []


@pytest.mark.parametrize("value", ["keep", "", "anything else"])
def test_any_other_setting_keeps(libc, monkeypatch, value):
    monkeypatch.setenv("ZOO3D_HOST_MEMORY", value)
    assert host_memory.keep_freed_host_memory() is True
    assert libc.calls == [TRIM_1_GIB, MMAP_256_MIB]


@pytest.mark.parametrize("system, libc_ver", [("Darwin", ("", "")), ("Windows", ("", "")), ("Linux", ("", "")),
                                              ("Linux", ("musl", "1.2")), ("FreeBSD", ("glibc", "2.35"))])
def test_elsewhere_it_does_nothing(libc, monkeypatch, system, libc_ver):
    monkeypatch.setattr(host_memory, "platform", SimpleNamespace(system=lambda: system, libc_ver=lambda: libc_ver))
    assert host_memory.keep_freed_host_memory() is False
    assert libc.opened == [] and libc.calls == []


@pytest.mark.parametrize("error", [OSError("no such library"), AttributeError("mallopt")])
def test_a_glibc_without_mallopt_is_false_not_an_error(libc, monkeypatch, error):
    def cdll(name):
        raise error

    monkeypatch.setattr(host_memory, "ctypes", SimpleNamespace(CDLL=cdll, c_int=ctypes.c_int))
    assert host_memory.keep_freed_host_memory() is False
