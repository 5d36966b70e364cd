"""``compare_models(..., out_dir="~/evidence")`` from Python writes the metrics' evidence images in the home folder, as
``~`` means in every path zoo3d reads, where it made a folder named '~' in the working directory."""

from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
from zoo3d.eval.protocol import make_protocol


def test_evidence_under_a_home_folder_out_dir_lands_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    oracle = load_eval_model("oracle", None, "cpu")
    protocol = make_protocol("small", instances=1, resolution=16, epi_frames=8)
    result = compare_models([oracle], load_metrics(["epi"]), protocol, "cpu", out_dir="~/evidence")
    written = tmp_path / "home" / "evidence" / "oracle" / "epi" / "seed0_epi.png"
    assert result["evidence"] == {"oracle/epi": [str(written)]}
    assert written.is_file() and not (tmp_path / "~").exists()
