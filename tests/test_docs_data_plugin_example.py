"""docs/data.md's dataset plugin (coloured discs), run as a reader would install it: it is served as zoo3d's own
datasets are, honours `data.mirror` with the helpers the page names (the flip and the camera's mirror together,
in the items zoo3d's mirror_flag picks), and refuses a bad option in one sentence."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import DataConfig
from zoo3d.errors import UserError

DATA_MD = Path(__file__).resolve().parents[1] / "docs" / "data.md"

PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="discs", factory="my_pkg.discs:build_discs"))
'''


@pytest.fixture
def discs(tmp_path, monkeypatch):
    section = DATA_MD.read_text(encoding="utf-8").split("\n## Dataset plugins\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(# my_pkg/discs\.py\n.*?)```", section, re.S).group(1)
    assert 'DatasetSpec(name="discs", factory="my_pkg.discs:build_discs")' in section
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "__init__.py").write_text(PLUGIN)
    (tmp_path / "my_pkg" / "discs.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "my_pkg")
    yield
    for name in ("my_pkg", "my_pkg.discs"):
        sys.modules.pop(name, None)


def test_the_example_mirrors_as_zoo3ds_datasets_do(discs):
    from zoo3d.data import build_dataset
    from zoo3d.data.augment import mirror_flag
    from zoo3d.train.data import check_stage_data

    config = SimpleNamespace(data=DataConfig(spec="discs?count=8"), camera=None, train=SimpleNamespace(seed=3))
    check_stage_data(config, [SimpleNamespace(resolution=16)])  # served as docs/data.md says
    mirrored = build_dataset(config.data, 16, seed=3)
    plain = build_dataset(DataConfig(spec="discs?count=8", mirror=False), 16, seed=3)
    flags = [mirror_flag(3, i, 0) for i in range(8)]
    assert any(flags) and not all(flags)
    for i, flag in enumerate(flags):
        item, unmirrored = mirrored[i], plain[i]
        assert item["mirrored"] is flag and unmirrored["mirrored"] is False
        assert not torch.equal(unmirrored["image"], unmirrored["image"].flip(-1))
        expected = unmirrored["image"].flip(-1) if flag else unmirrored["image"]
        assert torch.equal(item["image"], expected)
        camera = Camera.from_eg3d(unmirrored["camera"][None])
        assert torch.allclose(item["camera"], (camera.mirror() if flag else camera).to_eg3d()[0])
        assert torch.equal(plain.cameras()[i].to_eg3d()[0], unmirrored["camera"])
    mirrored.set_epoch(1)
    assert [mirrored[i]["mirrored"] for i in range(8)] == [mirror_flag(3, i, 1) for i in range(8)]


@pytest.mark.parametrize("count", ["ten", "0", "-2"])
def test_the_example_refuses_a_count_it_cannot_take(discs, count):
    from zoo3d.data import build_dataset

    with pytest.raises(UserError, match=rf"^Option 'count={count}' for discs is not a whole number of 1 or more\.$"):
        build_dataset(DataConfig(spec=f"discs?count={count}"), 16)
