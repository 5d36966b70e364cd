"""An output that is a symbolic link leading nowhere (``ln -s /mnt/scratch/x runlink`` with the disk unmounted), or
that lies under one, is refused before any work, naming the link and its target; the link is left as it was.

Before, ``sample`` and ``render`` replaced the link with a file in the working folder and exited 0 (the output never
reached the disk the link named), ``train`` built the run and then said ``Cannot create or lock run folder 'runlink':
file exists.``, a frames folder or a dataset failed only after the rendering, and ``export`` after the mesh."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from conftest import one_line_error, run_in_process
from toy_model import use_toy


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    use_toy(monkeypatch, tmp_path / "runs")
    Image.new("RGB", (8, 8)).save(tmp_path / "face.png")
    return work


def _said(out: str, what: str, link: str, target: str) -> str:
    where = "it is" if out == link else f"'{link}' is"
    return (f"Error: Cannot write {what} '{out}': {where} a symbolic link to '{target}', which does not exist; remove "
            f"the link, or give the path where the output should go.")


OUTPUTS = [
    (("train", "toy", "--steps", "1", "--quiet", "--out"), "run", "run folder"),
    (("train", "toy", "--steps", "1", "--quiet", "--out"), "run/sub", "run folder"),
    (("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out"), "grid.png", "image"),
    (("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out"), "out/grid.png", "image"),
    (("render", "oracle", "--frames", "2", "--resolution", "8", "--out"), "t.gif", "animation"),
    (("render", "oracle", "--frames", "2", "--resolution", "8", "--out"), "frames", "frames"),
    (("export", "oracle", "--resolution", "8", "--out"), "head.ply", "mesh"),
    (("import", "gram", "release.pt", "--preset", "tiny", "--out"), "run", "run folder"),
    (("invert", "../face.png", "--model", "oracle", "--pose", "0,0", "--out"), "inv", "inversion outputs"),
    (("data", "synth", "--count", "2", "--resolution", "32", "--out"), "heads", "dataset"),
    (("compare", "--models", "oracle", "--metric", "swd", "--json"), "r.json", "--json report"),
]


@pytest.mark.parametrize("args, out, what", OUTPUTS, ids=[f"{a[0]}-{o}" for a, o, _ in OUTPUTS])
def test_an_output_through_a_link_that_leads_nowhere_is_refused_before_any_work(here, capsys, args, out, what):
    link = out.split("/")[0]
    target = str(here.parent / "unmounted" / link)
    os.symlink(target, here / link)
    code, stdout, err = run_in_process(capsys, *args, out)
    assert code == 2, stdout + err
    assert one_line_error(err) == _said(out, what, link, target)
    assert os.listdir(here) == [link] and os.readlink(here / link) == target  # the link is as it was, nothing added
    assert not (here.parent / "unmounted").exists() and not (here.parent / "runs").exists()


def test_a_link_to_a_folder_that_exists_is_written_through(here, capsys):
    (here.parent / "disk").mkdir()
    os.symlink(here.parent / "disk", here / "out")
    code, _, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out",
                                  "out/grid.png")
    assert code == 0, err
    assert Image.open(here.parent / "disk" / "grid.png").format == "PNG" and (here / "out").is_symlink()
