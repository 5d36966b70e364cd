"""docs/data.md's ``build_dataset`` from Python takes a folder as a notebook names it.

``DataConfig(spec=Path(folder))`` was refused by pydantic as no valid string (a multi-line ValidationError), and the
spec alone, ``build_dataset(folder, 64)``, stopped with ``'str' object has no attribute 'spec'``. Both now give the
dataset ``DataConfig(spec=str(folder))`` gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import run_in_process
from zoo3d.config import DataConfig
from zoo3d.data import build_dataset

pytestmark = pytest.mark.usefixtures("single_thread")


def test_a_folder_as_a_path_or_the_spec_alone_is_the_dataset_its_text_names(tmp_path, capsys):
    folder = tmp_path / "heads"
    code, _, err = run_in_process(capsys, "data", "synth", "--out", folder, "--count", "2", "--resolution", "32")
    assert code == 0, err
    expected = build_dataset(DataConfig(spec=str(folder)), resolution=32)
    assert DataConfig(spec=Path(folder)).spec == str(folder)
    for cfg in (DataConfig(spec=Path(folder)), str(folder), Path(folder)):
        ds = build_dataset(cfg, resolution=32)
        assert len(ds) == len(expected) == 2
        assert all(torch.equal(ds[i]["image"], expected[i]["image"]) for i in range(2))
        assert all(torch.equal(ds[i]["camera"], expected[i]["camera"]) for i in range(2))


def test_a_registered_dataset_named_alone_takes_its_options():
    assert len(build_dataset("synthetic:heads?count=3", resolution=32)) == 3
