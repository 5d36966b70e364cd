"""``zoo3d sample``'s options against docs/training.md: each tile is the generator's own render of the asked seed,
view and psi (seeds drawn as the docs define them), the defaults are the documented ones, and every refusal is its
one documented sentence, given before the model loads."""

from __future__ import annotations

import numpy as np
import pytest

from cli_toy import (PITCH_MEAN, YAW_MEAN, depth_bytes, generator, read_rgb, render_bytes, tile, toy,  # noqa: F401
                     train_toy_run, zoo3d)
from conftest import one_line_error
from zoo3d.cli.sample import parse_seeds
from zoo3d.config import MAX_SEED
from zoo3d.errors import UserError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "sample_cli")


def test_the_defaults_are_seeds_0_to_15_in_a_square_at_psi_0_7_from_the_priors_mean_view(run, toy, capsys):
    assert zoo3d("sample", run, "--out", "grid.png") == 0
    assert capsys.readouterr().out == "Wrote 16 seeds x 1 view to grid.png.\n"
    grid = read_rgb(toy / "grid.png")
    assert grid.shape == (4 * 18 + 2, 4 * 18 + 2, 3)
    gen = generator(run)
    for seed in range(16):
        want = render_bytes(gen, seed, [YAW_MEAN], [PITCH_MEAN], 0.7)[0]
        assert np.abs(tile(grid, seed // 4, seed % 4, 16, 16) - want).max() <= 1.0, seed
    assert (grid[:2] == 255).all() and (grid[:, 18:20] == 255).all()  # white padding
    # teeth: psi 1, the frontal view, the level pitch and the next seed each draw another image
    want = render_bytes(gen, 0, [YAW_MEAN], [PITCH_MEAN], 0.7)[0]
    for seed, yaw, pitch, psi in ((0, YAW_MEAN, PITCH_MEAN, 1.0), (0, 0.0, PITCH_MEAN, 0.7), (0, YAW_MEAN, 0.0, 0.7),
                                  (1, YAW_MEAN, PITCH_MEAN, 0.7)):
        assert np.abs(render_bytes(gen, seed, [yaw], [pitch], psi)[0] - want).max() > 3


def test_seeds_yaws_pitch_psi_and_resolution_choose_each_tile(run, toy, capsys):
    assert zoo3d("sample", run, "--seeds", "4-5, 9", "--yaw", "-0.3", "--yaw", "0.25", "--pitch", "0.05", "--psi",
                 "0.5", "--resolution", "12", "--out", "g.png") == 0
    assert capsys.readouterr().out == "Wrote 3 seeds x 2 views to g.png.\n"
    grid = read_rgb(toy / "g.png")
    assert grid.shape == (2 * 14 + 2, 3 * 14 + 2, 3)  # a row per --yaw, a column per seed
    gen = generator(run)
    for r, yaw in enumerate((-0.3, 0.25)):
        for c, seed in enumerate((4, 5, 9)):
            want = render_bytes(gen, seed, [yaw], [0.05], 0.5, resolution=12)[0]
            assert np.abs(tile(grid, r, c, 12, 12) - want).max() <= 1.0, (r, c)


def test_depth_adds_a_row_under_each_row_drawn_over_one_range(run, toy, capsys):
    assert zoo3d("sample", run, "--seeds", "1-2", "--yaw", "0.3", "--yaw", "-0.3", "--depth", "--out", "d.png") == 0
    assert capsys.readouterr().out == "Wrote 2 seeds x 2 views to d.png.\n"
    grid = read_rgb(toy / "d.png")
    assert grid.shape == (4 * 18 + 2, 2 * 18 + 2, 3)
    gen = generator(run)
    rgbs, depths = {}, []
    for r, yaw in enumerate((0.3, -0.3)):
        for c, seed in enumerate((1, 2)):
            rgbs[r, c], d = render_bytes(gen, seed, [yaw], [PITCH_MEAN], 0.7, depth=True)
            depths.append(d[0])
    drawn = depth_bytes(np.stack(depths))
    for r in range(2):
        for c in range(2):
            assert np.abs(tile(grid, 2 * r, c, 16, 16) - rgbs[r, c][0]).max() <= 1.0
            assert np.abs(tile(grid, 2 * r + 1, c, 16, 16) - drawn[2 * r + c][..., None]).max() <= 1.0


def test_depth_without_a_yaw_puts_the_seeds_in_one_row(run, toy, capsys):
    assert zoo3d("sample", run, "--seeds", "0-2", "--depth", "--out", "d.png") == 0
    assert read_rgb(toy / "d.png").shape == (2 * 18 + 2, 3 * 18 + 2, 3)


def test_no_ema_draws_the_raw_generator(run, toy, capsys):
    assert zoo3d("sample", run, "--seeds", "3", "--no-ema", "--out", "raw.png") == 0
    got = tile(read_rgb(toy / "raw.png"), 0, 0, 16, 16)
    raw = render_bytes(generator(run, ema=False), 3, [YAW_MEAN], [PITCH_MEAN], 0.7)[0]
    ema = render_bytes(generator(run), 3, [YAW_MEAN], [PITCH_MEAN], 0.7)[0]
    assert np.abs(got - raw).max() <= 1.0 and np.abs(raw - ema).max() > 1.0


def test_a_model_name_is_its_newest_run_and_model_is_checked_against_the_checkpoint(run, toy, capsys):
    assert zoo3d("sample", "--model", "toy", "--seeds", "2", "--out", "by_name.png") == 0
    assert zoo3d("sample", run, "--model", "toy", "--seeds", "2", "--out", "by_run.png") == 0
    assert (read_rgb(toy / "by_name.png") == read_rgb(toy / "by_run.png")).all()
    capsys.readouterr()
    assert zoo3d("sample", run, "--model", "toy_other", "--seeds", "2", "--out", "x.png") == 2
    assert "holds model 'toy', not 'toy_other'" in one_line_error(capsys.readouterr().err)


def test_a_checkpoint_free_model_is_built_from_its_config(toy, capsys):
    from zoo3d.runs import load_model

    assert zoo3d("sample", "--model", "toy_procedural", "--seeds", "7", "--out", "p.png") == 0
    gen = load_model(None, model="toy_procedural", device="cpu").generator
    want = render_bytes(gen, 7, [0.0], [0.0], 0.7)[0]
    assert np.abs(tile(read_rgb(toy / "p.png"), 0, 0, 16, 16) - want).max() <= 1.0


def test_nothing_to_load_is_one_sentence(toy, capsys):
    assert zoo3d("sample", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Give a run folder, a checkpoint file or a model name (or --model NAME).")


@pytest.mark.parametrize("args, said", [
    (("--yaw", "nan"), "Error: Invalid value for '--yaw': 'nan' is not a finite number. (see `zoo3d sample --help`)"),
    (("--pitch", "-inf"), "Error: Invalid value for '--pitch': '-inf' is not a finite number. (see `zoo3d sample "
                          "--help`)"),
    (("--yaw", "left"), "Error: Invalid value for '--yaw': 'left' is not a number. (see `zoo3d sample --help`)"),
    (("--psi", "nan"), "Error: Invalid value for '--psi': 'nan' is not a number in the range 0<=x<=1. (see `zoo3d "
                       "sample --help`)"),
    (("--psi", "1.01"), "Error: Invalid value for '--psi': 1.01 is not in the range 0<=x<=1. (see `zoo3d sample "
                        "--help`)"),
    (("--resolution", "0"), "Error: Invalid value for '--resolution': 0 is not in the range x>=1. (see `zoo3d sample "
                            "--help`)"),
])
def test_values_that_cannot_render_are_refused_naming_the_option(toy, capsys, args, said):
    assert zoo3d("sample", "nowhere", *args, "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == said
    assert not list(toy.iterdir())


def test_psi_takes_both_ends_of_its_range(run, toy, capsys):
    gen = generator(run)
    for psi in ("0", "1"):
        assert zoo3d("sample", run, "--seeds", "5", "--psi", psi, "--out", f"p{psi}.png") == 0
        want = render_bytes(gen, 5, [YAW_MEAN], [PITCH_MEAN], float(psi))[0]
        assert np.abs(tile(read_rgb(toy / f"p{psi}.png"), 0, 0, 16, 16) - want).max() <= 1.0


def test_the_output_name_then_the_seeds_are_checked_before_the_model_loads(toy, capsys):
    assert zoo3d("sample", "nowhere", "--seeds", "5-2", "--out", "g.txt") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Cannot write an image to 'g.txt': use .png, .jpg, .webp or another image suffix.")
    assert zoo3d("sample", "nowhere", "--seeds", "5-2", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Cannot read seeds '5-2': use numbers and ranges such as 0-15 or 1,4,7-9.")
    assert zoo3d("sample", "nowhere", "--seeds", "0-10000", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: --seeds 0-10000 asks for 10,001; at most 10,000 seeds fit in one grid (split them over several "
        "commands).")


def test_the_images_held_at_once_count_the_views_and_the_depth_rows(run, toy, capsys, monkeypatch):
    from zoo3d import limits

    monkeypatch.setattr(limits, "memory_budget", lambda: 1000)
    assert zoo3d("sample", run, "--seeds", "0-2", "--yaw", "0", "--yaw", "1", "--depth", "--resolution", "5",
                 "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err).startswith(
        "Error: --seeds 0-2 with 2 views and depth asks for 12 images of 5x5, which need about ")
    assert zoo3d("sample", run, "--seeds", "0-2", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err).startswith(
        "Error: --seeds 0-2 with 1 view asks for 3 images of 16x16, which need about ")
    assert not list(toy.iterdir())


def test_a_grid_wider_than_its_format_holds_is_refused_before_rendering(run, toy, capsys, monkeypatch):
    from zoo3d import limits

    monkeypatch.setattr(limits, "memory_budget", lambda: 2**40)
    assert zoo3d("sample", run, "--seeds", "0-4", "--yaw", "0", "--resolution", "4096", "--out", "row.webp") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: 'row.webp' would be 20492x4100 pixels, and WEBP holds at most 16383 on a side; write a .png, or fewer "
        "images per row.")
    # the same five seeds without --yaw: a 3-column square, 12296 wide, which WebP holds (checked at 8 px)
    assert zoo3d("sample", run, "--seeds", "0-4", "--resolution", "8", "--out", "sq.webp") == 0
    assert read_rgb(toy / "sq.webp").shape == (2 * 10 + 2, 3 * 10 + 2, 3)


def test_a_model_without_depth_refuses_depth_and_writes_nothing(run, toy, capsys, monkeypatch):
    import toy_model
    from zoo3d.core import RenderOutput

    real = toy_model.ToyGenerator.render
    monkeypatch.setattr(toy_model.ToyGenerator, "render", lambda self, rep, cams, resolution=None:
                        RenderOutput(rgb=real(self, rep, cams, resolution).rgb))
    assert zoo3d("sample", run, "--seeds", "0", "--depth", "--out", "d.png") == 2
    assert one_line_error(capsys.readouterr().err) == "Error: Model 'toy' renders no depth, so --depth cannot be shown."
    assert not list(toy.iterdir())


@pytest.mark.parametrize("text, seeds", [
    ("0-3,7", [0, 1, 2, 3, 7]),
    (" 1 , 4 ,7-9 ", [1, 4, 7, 8, 9]),
    ("3,,5,", [3, 5]),
    ("6-6", [6]),
    ("2,1,2", [2, 1, 2]),
    (f"{MAX_SEED}", [MAX_SEED]),
])
def test_seed_lists_read_as_documented(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, said", [
    ("5-2", "Cannot read seeds '5-2': use numbers and ranges such as 0-15 or 1,4,7-9."),
    ("-1", "Cannot read seeds '-1': use numbers and ranges such as 0-15 or 1,4,7-9."),
    ("a-3", "Cannot read seeds 'a-3': use numbers and ranges such as 0-15 or 1,4,7-9."),
    ("1.5", "Cannot read seeds '1.5': use numbers and ranges such as 0-15 or 1,4,7-9."),
    (" , ", "Cannot read seeds ' , ': no seed given."),
    (f"0-{MAX_SEED + 1}", f"Seed {MAX_SEED + 1} in '0-{MAX_SEED + 1}' is too large: seeds go from 0 to {MAX_SEED}."),
    (f"{MAX_SEED + 1}", f"Seed {MAX_SEED + 1} in '{MAX_SEED + 1}' is too large: seeds go from 0 to {MAX_SEED}."),
])
def test_seed_lists_that_cannot_be_read_are_one_sentence(text, said):
    with pytest.raises(UserError) as caught:
        parse_seeds(text)
    assert str(caught.value) == said


def test_the_seed_limit_counts_every_range_before_the_list_is_built():
    assert parse_seeds("0-2,10-11", limit=5) == [0, 1, 2, 10, 11]
    with pytest.raises(UserError) as caught:
        parse_seeds("0-2,10-12", limit=5)
    assert str(caught.value) == ("--seeds 0-2,10-12 asks for 6; at most 5 seeds fit in one grid (split them over "
                                 "several commands).")
    with pytest.raises(UserError, match=r"asks for 9,223,372,036,854,775,808; at most 10 "):
        parse_seeds(f"0-{MAX_SEED}", limit=10)  # refused at once, never listed
    assert len(parse_seeds("0-10000")) == 10001  # no limit: any count is listed
