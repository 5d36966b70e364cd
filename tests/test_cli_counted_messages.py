"""Counts in the commands' messages take the number of their noun: ``1 seed``, ``1 frame``, ``1 record`` — never
``1 seeds`` — and every other count keeps its plural. Each command is run with a count of one (the toy run, the
checkpoint-free oracle or the recording stand-ins of the commands' own tests), its sentence written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cli_toy import toy, train_toy_run  # noqa: F401
from conftest import one_line_error, run_in_process
from test_bench_cli_records import _invoke as bench, _suites
from test_cli_compare_options import _spheres
from test_cli_demo_job import stand_in  # noqa: F401
from zoo3d.errors import counted


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "counted_cli")


def test_counted_puts_the_noun_in_the_number_it_takes():
    assert [counted(n, "seed") for n in (0, 1, 2, 10_000)] == ["0 seeds", "1 seed", "2 seeds", "10000 seeds"]
    assert [counted(n, "vertex", "vertices") for n in (1, 3)] == ["1 vertex", "3 vertices"]
    assert counted(1, "synthetic head") == "1 synthetic head"


def test_sample_of_one_seed_in_one_view_says_so(run, toy, capsys):
    code, out, err = run_in_process(capsys, "sample", run, "--seeds", "3", "--out", "g.png")
    assert code == 0, err
    assert out == "Wrote 1 seed x 1 view to g.png.\n"
    code, out, _ = run_in_process(capsys, "sample", run, "--seeds", "3-4", "--yaw", "0", "--yaw", "1", "--out",
                                  "h.png")
    assert out == "Wrote 2 seeds x 2 views to h.png.\n"


def test_one_image_over_the_memory_budget_is_one_image_that_needs(run, toy, capsys, monkeypatch):
    from zoo3d import limits

    monkeypatch.setattr(limits, "memory_budget", lambda: 1000)
    code, _, err = run_in_process(capsys, "sample", run, "--seeds", "3", "--out", "g.png")
    assert code == 2
    assert one_line_error(err).startswith("Error: --seeds 3 with 1 view asks for 1 image of 16x16, which needs about ")
    code, _, err = run_in_process(capsys, "render", run, "--frames", "1", "--out", "t.png")
    assert code == 2
    assert one_line_error(err).startswith("Error: --frames 1 asks for 1 frame of 16x16, which needs about ")
    code, _, err = run_in_process(capsys, "render", run, "--frames", "2", "--out", "t.png")
    assert one_line_error(err).startswith("Error: --frames 2 asks for 2 frames of 16x16, which need about ")
    assert not list(toy.iterdir())


def test_render_of_one_frame_says_one_frame(run, toy, capsys):
    code, out, err = run_in_process(capsys, "render", run, "--frames", "1", "--seed", "2", "--out", "t.png")
    assert code == 0, err
    assert out == "Wrote 1 frame of seed 2 (orbit) to t.png.\n"


def test_export_of_a_one_triangle_mesh_says_one_face(tmp_path, monkeypatch, capsys):
    import zoo3d.mesh as mesh_module
    from zoo3d.mesh import Mesh, read_ply

    monkeypatch.chdir(tmp_path)
    triangle = Mesh(np.eye(3, dtype=np.float32), np.array([[0, 1, 2]], dtype=np.int64))
    monkeypatch.setattr(mesh_module, "extract_mesh", lambda rep, **kw: triangle)
    code, out, err = run_in_process(capsys, "export", "oracle", "--resolution", "8", "--out", "m.ply")
    assert code == 0, err
    assert out == "Wrote 3 vertices and 1 face (ply) to m.ply.\n"
    assert read_ply(tmp_path / "m.ply").faces.tolist() == [[0, 1, 2]]


def test_data_synth_of_one_head_says_one_synthetic_head(tmp_path, monkeypatch, capsys):
    import zoo3d.cli.data as data_cli

    def synth_into(out, *args):
        out.mkdir(parents=True)
        (out / "marker").write_text("x")

    monkeypatch.setattr(data_cli, "_synth_into", synth_into)
    out = tmp_path / "one"
    code, stdout, err = run_in_process(capsys, "data", "synth", "--out", out, "--count", "1")
    assert code == 0, err
    assert stdout == f"wrote 1 synthetic head at 64x64 to {out} (zoo3d format)\n"


def test_demo_of_one_step_and_one_more_step_says_step(stand_in, capsys):  # noqa: F811
    code, out, err = run_in_process(capsys, "demo", "--out", "d", "--steps", "1")
    assert code == 0, err
    assert out.splitlines()[0] == "Trained 1 step in 10.0 min; demo done in 15.0 min."
    stand_in.clock = [100.0, 400.0, 760.0]
    code, out, err = run_in_process(capsys, "demo", "--out", "d", "--steps", "2")
    assert code == 0, err
    assert out.splitlines()[1] == "Trained to step 2 (1 step in this run) in 5.0 min; demo done in 11.0 min."


def test_bench_of_one_record_says_one_record(monkeypatch, tmp_path):
    _suites(monkeypatch, only={"records": [{"name": "a", "ms": 1.5}]})
    out = tmp_path / "bench.json"
    result = bench("only", "--device", "cpu", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).endswith(f"wrote 1 record to {out}")


def test_compare_of_one_instance_says_one_instance_in_its_title(tmp_path, monkeypatch, capsys):
    _spheres(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "depth", "--instances",
                                       "1", "--resolution", "16", "--set", "depth_views=2", "--device", "cpu")
    assert code == 0, err
    assert " ".join(stdout.split()).startswith(  # the title, wrapped
        "zoo3d compare (small protocol changed to resolution=16, depth_views=2; 1 instance) ┏")
