"""``zoo3d plugins --check`` builds every plugin dataset as ``zoo3d compare --data NAME`` builds it, without options,
and checks it as ``zoo3d train`` does (items spread over it, their batch, its cameras()): a factory that fails in its
own code, returns no dataset, serves an item zoo3d cannot read or cameras() that are no Camera is a failed ``dataset``
row with the sentence ``zoo3d train`` would stop with, exit status 1; one that refuses to be built without the options
it needs (a UserError of its own) passes, as those options are the user's."""

from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import run_in_process as zoo3d

PLUGIN = '''
from urllib.parse import parse_qsl

import torch

from zoo3d import hookimpl
from zoo3d.errors import UserError
from zoo3d.specs import DatasetSpec

BUILT = []


class Flat:
    def __init__(self, resolution, dtype=torch.float32, count=2):
        self.resolution, self.dtype, self.count = resolution, dtype, count

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        image = torch.zeros(3, self.resolution, self.resolution, dtype=self.dtype)
        return {"image": image} if i == 9 else {"image": image, "camera": torch.zeros(25)}


class LabelCameras(Flat):
    def cameras(self):
        return torch.zeros(2, 25)


def good(cfg, resolution, query="", camera_prior=None, seed=0):
    BUILT.append((cfg.spec, resolution, query, camera_prior))
    return Flat(resolution)


def needs_path(cfg, resolution, query="", camera_prior=None, seed=0):
    if "path" not in dict(parse_qsl(query)):
        raise UserError("Dataset 'needs_path' takes its folder as ?path=FOLDER.")
    return Flat(resolution)


def faulty(cfg, resolution, query="", camera_prior=None, seed=0):
    return Flat(dict(parse_qsl(query))["side"])


def nothing(cfg, resolution, query="", camera_prior=None, seed=0):
    return None


def bytes_(cfg, resolution, query="", camera_prior=None, seed=0):
    return Flat(resolution, torch.uint8)


def last_bare(cfg, resolution, query="", camera_prior=None, seed=0):
    return Flat(resolution, count=10)  # its last item alone has no camera


def labels(cfg, resolution, query="", camera_prior=None, seed=0):
    return LabelCameras(resolution)


@hookimpl
def zoo3d_register_datasets(register):
    for name, factory in (("good", "good"), ("needs_path", "needs_path"), ("faulty", "faulty"),
                          ("nothing", "nothing"), ("bytes", "bytes_"), ("last_bare", "last_bare"),
                          ("labels", "labels")):
        register(DatasetSpec(name=name, factory=f"clp_datasets_plugin:{factory}"))
'''


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    (tmp_path / "clp_datasets_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "clp_datasets_plugin")
    import clp_datasets_plugin

    yield clp_datasets_plugin
    sys.modules.pop("clp_datasets_plugin", None)


def test_each_plugin_dataset_is_built_without_options_and_checked_as_a_run_checks_it(datasets, capsys):
    code, out, _ = zoo3d(capsys, "plugins", "--check", "--json")
    rows = {r["name"]: r for r in json.loads(out)["factories"] if r["plugin"] == "clp_datasets_plugin"}
    assert code == 1
    assert {name: r["status"] for name, r in rows.items()} == {
        "good": "ok", "needs_path": "ok", "faulty": "error", "nothing": "error", "bytes": "error",
        "last_bare": "error", "labels": "error"}
    assert datasets.BUILT == [("good", 32, "", None)]
    named = "Dataset '{}' from plugin 'clp_datasets_plugin'"
    assert re.fullmatch(re.escape(named.format("faulty")) + r" failed to build at 32 px with no options: KeyError: "
                        r"'side' \(.*clp_datasets_plugin.py:\d+\); a factory refuses options it cannot take with "
                        r"zoo3d.errors.UserError in one sentence \(docs/data.md, Dataset plugins\)\.",
                        rows["faulty"]["error"])
    assert rows["nothing"]["error"] == (named.format("nothing") + ": its factory returned a NoneType, not a dataset "
                                        "(an object with len() and ds[i]); return the dataset (docs/data.md, Dataset "
                                        "plugins).")
    assert rows["bytes"]["error"].startswith(named.format("bytes") + " serves an 'image' of dtype torch.uint8; ")
    assert rows["last_bare"]["error"].startswith(named.format("last_bare") + " serves item 9 without a 'camera' where "
                                                 "item 0 has one; ")
    assert rows["labels"]["error"].startswith(named.format("labels") + ": its cameras() returned a Tensor, not a "
                                              "zoo3d.cameras.Camera; ")


def test_zoo3ds_own_dataset_is_not_built_by_the_check(capsys, monkeypatch):
    from zoo3d.data import synthetic

    monkeypatch.setattr(synthetic, "build_synthetic_heads", lambda *a, **k: pytest.fail("built by --check"))
    code, out, _ = zoo3d(capsys, "plugins", "--check", "--json")
    rows = [r for r in json.loads(out)["factories"] if r["name"] == "synthetic:heads"]
    assert code == 0 and [r["status"] for r in rows] == ["ok"]
