"""The pieces ``zoo3d sample`` shares with render, export and view, checked on their own: ``model_options`` (RUN,
``--model``, ``--no-ema``, ``--device``) as ``zoo3d sample --help`` and docs/training.md give them, the finite-number
types refusing in click's sentence naming the option even when called outside a command line, a seed range read
at its first dash, and ``--device``
reaching the model's loading (an unknown device is its one sentence from zoo3d.devices)."""

from __future__ import annotations

import click
import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.cli.sample import FINITE, PSI, model_options, parse_seeds
from zoo3d.errors import UserError


def _command():
    """A fresh command carrying ``model_options`` alone; it returns the values it was handed."""

    @click.command()
    @model_options
    def cmd(**given):
        return given

    return cmd


def test_model_options_default_to_no_run_no_model_the_ema_and_device_auto():
    cmd = _command()
    assert cmd.main([], standalone_mode=False) == {"run": None, "model": None, "no_ema": False, "device": "auto"}
    assert cmd.main(["runs/r", "--model", "gram", "--no-ema", "--device", "cuda:1"], standalone_mode=False) == {
        "run": "runs/r", "model": "gram", "no_ema": True, "device": "cuda:1"}


def test_model_options_help_is_the_documented_one_in_its_order():
    cmd = _command()
    ctx = click.Context(cmd, info_name="sample")
    assert cmd.collect_usage_pieces(ctx) == ["[OPTIONS]", "[RUN]"]
    assert [p.get_help_record(ctx) for p in cmd.params if isinstance(p, click.Option)] == [
        ("--model TEXT", "Model name: names a checkpoint-free model when RUN is omitted; otherwise checked against the "
                         "checkpoint."),
        ("--no-ema", "Use the raw generator instead of its EMA."),
        ("--device TEXT", "cpu, cuda, cuda:N or auto.  [default: auto]"),
    ]


@pytest.mark.parametrize("name, type_, value, said", [
    ("--yaw", FINITE, "left", "Invalid value for '--yaw': 'left' is not a number."),
    ("--yaw", FINITE, "inf", "Invalid value for '--yaw': 'inf' is not a finite number."),
    ("--psi", PSI, "nan", "Invalid value for '--psi': 'nan' is not a number in the range 0<=x<=1."),
    ("--psi", PSI, "1.5", "Invalid value for '--psi': 1.5 is not in the range 0<=x<=1."),
])
def test_the_finite_types_name_the_option_they_refuse_for_outside_a_command_line(name, type_, value, said):
    opt = click.Option([name], type=type_)
    ctx = click.Context(click.Command("sample", params=[opt]))
    with pytest.raises(click.BadParameter) as caught:
        opt.process_value(ctx, value)  # the type's own refusal, without click's parsing to fill in the option
    assert caught.value.param is opt and caught.value.ctx is ctx
    assert caught.value.format_message() == said


def test_a_range_is_read_at_its_first_dash_so_minus_0_to_3_is_refused():
    with pytest.raises(UserError) as caught:
        parse_seeds("-0-3")  # not 0-3 (int("-0") is 0): nothing stands before the first dash
    assert str(caught.value) == "Cannot read seeds '-0-3': use numbers and ranges such as 0-15 or 1,4,7-9."


def test_sample_hands_device_to_the_loading_which_refuses_an_unknown_one_first(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert zoo3d("sample", "nowhere", "--seeds", "0", "--device", "warp9", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Unknown device 'warp9'; use cpu, cuda, cuda:N, mps or auto.")
    assert not list(tmp_path.iterdir())
