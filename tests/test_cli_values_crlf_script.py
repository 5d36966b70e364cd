"""A value that ends in a carriage return, as the last word of each line of a script saved with Windows line endings
(CRLF) and run by bash, is refused in one sentence, exit status 2, before anything is written. Before, ``data check
DIR`` said the folder that is there does not exist, ``--preset tiny`` was an unknown preset "Did you mean 'tiny'?",
and ``--out DIR`` made a run folder named ``DIR\\r`` beside ``DIR``."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from toy_model import use_toy

CRLF = ("ends in a carriage return (\\r), as the last word of a line does in a script saved with Windows line "
        "endings (CRLF); convert the script with `dos2unix SCRIPT` or `sed -i 's/\\r$//' SCRIPT`.")


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    monkeypatch.chdir(work)
    use_toy(monkeypatch, tmp_path / "runs")
    return work


@pytest.mark.parametrize("args, option, what", [
    (("data", "check", "data\r"), "PATH", "path"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r\r"), "--out", "path"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--preset", "tiny\r"), "--preset", "value"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--data", "data\r"), "--data", "value"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--device", "cpu\r"), "--device", "value"),
])
def test_a_value_ending_in_a_carriage_return_is_one_sentence_and_nothing_is_written(here, capsys, args, option,
                                                                                      what):
    code, out, err = run_in_process(capsys, *args)
    assert code == 2, out + err
    command = " ".join(["zoo3d"] + [a for a in args[:2] if a in ("train", "data", "check")])
    assert one_line_error(err) == f"Error: Invalid value for '{option}': the {what} {CRLF} (see `{command} --help`)"
    assert sorted(p.name for p in here.iterdir()) == ["data"] and not (here.parent / "runs").exists()


def test_a_carriage_return_inside_a_value_is_left_to_the_command(here, capsys):
    """Only the end of a value is where a CRLF script puts one: a path that merely holds one is a path, refused by
    the command as missing, and named with the '\\r' escaped (printed as it is, it sent the cursor back to the start
    of the line, which then read "ta' does not exist. 'da")."""
    code, out, err = run_in_process(capsys, "data", "check", "da\rta")
    assert code == 2 and one_line_error(err) == "Error: Dataset path 'da\\rta' does not exist."


def test_errors_md_quotes_the_sentence(here, capsys):
    from test_docs_errors import as_pattern, documented

    code, _, err = run_in_process(capsys, "data", "check", "data\r")
    assert code == 2 and as_pattern(documented("zoo3d data check DIR")).fullmatch(one_line_error(err))


HINT = ("(the '\\r' at its end comes from a script saved with Windows line endings (CRLF); convert the script with "
        "`dos2unix SCRIPT` or `sed -i 's/\\r$//' SCRIPT`)")


@pytest.mark.parametrize("args, said", [
    (("data", "check", "data", "--fast\r"), "No such option '--fast\\r'. Did you mean '--fast'?"),  # a flag at the end
    (("data", "check", "data", "--crop", "none\r"), "Invalid value for '--crop': 'none\\r' is not one of 'center', "
                                                     "'none'."),  # a choice
])
def test_a_word_click_refuses_for_its_carriage_return_is_said_to_come_from_a_crlf_script(here, capsys, args, said):
    """Click offered the same word back ("Did you mean '--fast'?"), the '\\r' the only difference."""
    code, out, err = run_in_process(capsys, *args)
    assert code == 2, out + err
    assert one_line_error(err) == f"Error: {said} {HINT} (see `zoo3d data check --help`)"


def test_a_refused_word_without_a_carriage_return_gets_no_such_clause(here, capsys):
    code, _, err = run_in_process(capsys, "data", "check", "data", "--crop", "nonee")
    assert code == 2 and one_line_error(err) == ("Error: Invalid value for '--crop': 'nonee' is not one of 'center', "
                                                 "'none'. (see `zoo3d data check --help`)")
