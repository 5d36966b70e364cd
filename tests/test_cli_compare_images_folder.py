"""``--markdown report.md``'s images folder (``report_images/``): the metrics write their evidence there while they
run, so a folder that cannot be made (a file of that name) stopped the comparison after the first instance's
work (every NeuS fit of it), though docs/errors.md promises outputs that cannot be made are refused before any
model is loaded."""

from __future__ import annotations

from conftest import run_in_process as zoo3d


def _loads(monkeypatch) -> list:
    import zoo3d.eval.harness as harness

    loads: list = []
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: loads.append(a))
    return loads


def test_an_images_folder_that_is_a_file_is_refused_before_any_model_loads(tmp_path, monkeypatch, capsys):
    loads = _loads(monkeypatch)
    (tmp_path / "rep_images").write_text("a file where the report's images go")
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--markdown",
                           tmp_path / "rep.md")
    assert code == 2 and loads == [] and out == ""
    assert err.strip() == (f"Error: Cannot write --markdown images folder '{tmp_path / 'rep_images'}': "
                           f"'{tmp_path / 'rep_images'}' is a file, not a folder."), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep_images"]  # no report either


def test_the_folder_is_named_after_the_reports_stem_beside_it():
    from pathlib import Path

    from zoo3d.cli.compare import images_folder

    assert images_folder("out/report.md") == Path("out/report_images")
    assert images_folder("report.v2.md") == Path("report.v2_images")
    assert images_folder("notes") == Path("notes_images")
