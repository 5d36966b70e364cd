"""A comparison stopped half way (Ctrl-C, an error) beside an earlier ``--markdown`` report: the metrics wrote their
evidence images straight into the report's images folder as they went, so the earlier report, left in place, showed
the stopped run's images (other models, another resolution) beside its own numbers. The images are now written to a
hidden folder and moved into place with the report; a stopped comparison leaves the earlier report and its images as
they were, and no hidden folder behind."""

from __future__ import annotations

import json

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import EvalModel


class Interrupted(TexturedSphereGenerator):
    """The consistent sphere until its first render: then the user's Ctrl-C."""

    def render(self, representation, cameras, resolution=None):
        raise KeyboardInterrupt


def _models(monkeypatch, second):
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "oracle_inconsistent": second}
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, gens[name], ckpt))


def _compare(capsys, tmp_path, resolution):
    return zoo3d(capsys, "compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi", "--instances", "1",
                 "--resolution", str(resolution), "--set", "epi_frames=8", "--device", "cpu",
                 "--json", tmp_path / "rep.json", "--markdown", tmp_path / "rep.md")


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_stopped_comparison_leaves_the_earlier_report_and_its_images_as_they_were(tmp_path, monkeypatch, capsys):
    _models(monkeypatch, TexturedSphereGenerator(False))
    code, _, err = _compare(capsys, tmp_path, 16)
    assert code == 0, err
    before = _files(tmp_path)
    assert "rep_images/oracle/epi/seed0_epi.png" in before and "rep_images/oracle_inconsistent/epi/seed0_epi.png" in \
        before
    _models(monkeypatch, Interrupted(False))
    code, out, err = _compare(capsys, tmp_path, 24)  # oracle's EPI drawn at 24 px, then Ctrl-C
    assert code == 130 and out == "" and err.strip().endswith("Aborted."), err
    assert _files(tmp_path) == before  # every byte, the 16 px EPI images included
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep.json", "rep.md", "rep_images"]  # nothing hidden


def test_a_finished_comparison_puts_its_images_where_its_reports_say(tmp_path, monkeypatch, capsys):
    _models(monkeypatch, TexturedSphereGenerator(False))
    (tmp_path / "rep_images" / "gram").mkdir(parents=True)
    (tmp_path / "rep_images" / "gram" / "mine.txt").write_text("kept")  # an existing folder: its files stay
    code, _, err = _compare(capsys, tmp_path, 16)
    assert code == 0, err
    evidence = json.loads((tmp_path / "rep.json").read_text())["evidence"]
    assert evidence == {f"{m}/epi": [str(tmp_path / "rep_images" / m / "epi" / "seed0_epi.png")]
                        for m in ("oracle", "oracle_inconsistent")}
    assert all((tmp_path / "rep_images" / m / "epi" / "seed0_epi.png").stat().st_size > 0
               for m in ("oracle", "oracle_inconsistent"))
    lines = (tmp_path / "rep.md").read_text().splitlines()
    assert "![seed0_epi](rep_images/oracle/epi/seed0_epi.png)" in lines
    assert (tmp_path / "rep_images" / "gram" / "mine.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep.json", "rep.md", "rep_images"]


def test_an_image_that_cannot_be_written_is_named_in_the_images_folder(tmp_path, monkeypatch, capsys):
    import errno

    from PIL import Image

    _models(monkeypatch, TexturedSphereGenerator(False))

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    code, out, err = _compare(capsys, tmp_path, 16)
    assert code == 2 and out == "", err  # not the hidden folder's name, which tells a user nothing
    assert err.strip().splitlines()[-1] == (f"Error: Cannot write image '{tmp_path / 'rep_images' / 'oracle' / 'epi' / 'seed0_epi.png'}'"
                           f": the disk is full; nothing was half-written."), err
    assert list(tmp_path.iterdir()) == []


def test_a_second_comparison_replaces_the_earlier_reports_images_of_its_models(tmp_path, monkeypatch, capsys):
    """The usual rerun into the same report: the images folder and each model's metric folder exist already; the new
    images replace the old ones file by file, and an image of the earlier report that this one did not draw stays."""
    _models(monkeypatch, TexturedSphereGenerator(False))
    epi = tmp_path / "rep_images" / "oracle" / "epi"
    epi.mkdir(parents=True)
    (epi / "seed0_epi.png").write_bytes(b"the earlier report's")
    (epi / "seed1_epi.png").write_bytes(b"an earlier seed")
    code, _, err = _compare(capsys, tmp_path, 16)
    assert code == 0, err
    assert (epi / "seed0_epi.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (epi / "seed1_epi.png").read_bytes() == b"an earlier seed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep.json", "rep.md", "rep_images"]


def test_the_hidden_folder_of_a_killed_comparison_is_removed_and_other_temporaries_stay(tmp_path):
    """A comparison killed outright (kill -9) leaves its hidden evidence folder beside the images folder; the next
    comparison of that report removes it. Another target's temporary file, even of a process that is gone, is not
    this comparison's to remove."""
    import subprocess
    import sys

    from zoo3d.cli.compare import evidence_staging
    from zoo3d.fileio import temp_path

    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    stale = tmp_path / f".rep_images.tmp-{proc.pid}"
    (stale / "oracle").mkdir(parents=True)
    other = tmp_path / f".other.json.tmp-{proc.pid}"
    other.write_text("{}")
    assert evidence_staging(tmp_path / "rep_images") == temp_path(tmp_path / "rep_images")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]
