"""docs/errors.md's sentences against what the commands print.

Each case runs a command from the page (in this process, against the built-in plugins) and compares its one
``Error:`` line with the sentence the page quotes for that command, ``…`` standing for the list the page leaves
out and ``DIR`` for the folder of the case. A message reworded in the code, or a page edited away from it,
fails here; none of these commands gets as far as building a model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import one_line_error, run_in_process

ERRORS_MD = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _cells(row: str) -> list[str]:
    """The cells of a Markdown table row, split at the ``|`` outside code spans."""
    cells, current, ticks = [], "", 0
    i = 0
    while i < len(row):
        if row[i] == "`":
            run = len(row[i:]) - len(row[i:].lstrip("`"))
            ticks = 0 if ticks == run else (run if ticks == 0 else ticks)
            current += row[i:i + run]
            i += run
            continue
        if row[i] == "|" and ticks == 0:
            cells.append(current.strip())
            current = ""
        else:
            current += row[i]
        i += 1
    return cells[1:] + ([current.strip()] if current.strip() else [])


def _quoted(cell: str) -> str:
    """The first code span of a cell: ``x`` or ``` ``x`` ``` (a sentence that holds backticks)."""
    match = re.search(r"(`+)\s?(.+?)\s?\1(?!`)", cell)
    assert match, cell
    return match.group(2)


def documented(command: str) -> str:
    """The sentence errors.md quotes in the row whose first cell starts with ``command`` in backticks."""
    for line in ERRORS_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = _cells(line)
            if len(cells) >= 2 and cells[0].startswith(f"`{command}`"):
                return _quoted(cells[1])
    raise AssertionError(f"docs/errors.md has no row for `{command}`")


def as_pattern(sentence: str, folders: dict[str, Path] | None = None) -> re.Pattern:
    """The sentence as a pattern: ``…`` any text, each placeholder (``DIR``) the folder of the case."""
    text = ".+?".join(re.escape(p) for p in sentence.split("…"))
    for name, folder in (folders or {}).items():
        text = text.replace(name, re.escape(str(folder)))
    return re.compile("Error: " + text)


@pytest.fixture
def fresh_dir(tmp_path, monkeypatch):
    """A working folder with no runs, under the default runs root ``runs/`` the page's sentences name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZOO3D_RUNS", raising=False)
    return tmp_path


CASES = [
    ("zoo3d train gramm", ["train", "gramm"]),
    ("zoo3d train gram --preset tinyy", ["train", "gram", "--preset", "tinyy"]),
    ("zoo3d train gram --config missing.yaml", ["train", "gram", "--config", "missing.yaml"]),
    ("zoo3d train gram --data /data/ffhqq", ["train", "gram", "--data", "/data/ffhqq"]),
    ("zoo3d train gram --set train.sampel_seeds=[1]", ["train", "gram", "--set", "train.sampel_seeds=[1]"]),
    ("zoo3d train gram --set train.steps=5", ["train", "gram", "--set", "train.steps=5"]),
    ("zoo3d train gram --set seed", ["train", "gram", "--set", "seed"]),
    ("zoo3d train gram --resume", ["train", "gram", "--resume"]),
    ("zoo3d sample gram …", ["sample", "gram", "--seeds", "0", "--out", "grid.png"]),
    ("zoo3d sample best.safetensors …", ["sample", "best.safetensors", "--seeds", "0", "--out", "grid.png"]),
    ("zoo3d sample gramm …", ["sample", "gramm", "--seeds", "0", "--out", "grid.png"]),
]


@pytest.mark.parametrize("command,args", CASES, ids=[c for c, _ in CASES])
def test_a_common_mistake_prints_the_sentence_errors_md_quotes(fresh_dir, capsys, command, args):
    code, out, err = run_in_process(capsys, *args)
    assert code == 2 and out == ""
    assert as_pattern(documented(command)).fullmatch(one_line_error(err)), (documented(command), err)
    assert not (fresh_dir / "runs").exists()   # refused before a run folder (or the runs root) is made


def test_resuming_a_folder_that_does_not_exist_prints_the_pages_sentence(fresh_dir, capsys):
    folder = fresh_dir / "no-such-run"
    code, _, err = run_in_process(capsys, "train", "gram", "--out", folder, "--resume")
    sentence = documented("zoo3d train gram --out DIR --resume")
    assert code == 2 and as_pattern(sentence, {"DIR": folder}).fullmatch(one_line_error(err)), (sentence, err)
    assert not folder.exists()


def test_resume_with_set_prints_the_pages_sentence(fresh_dir, capsys):
    code, _, err = run_in_process(capsys, "train", "gram", "--out", fresh_dir / "r", "--resume",
                                  "--set", "train.seed=3")
    sentence = documented("zoo3d train gram --out DIR --resume --set …")
    assert code == 2 and as_pattern(sentence).fullmatch(one_line_error(err)), (sentence, err)


@pytest.mark.parametrize("row,name,make", [("zoo3d sample DIR …", "DIR", False),
                                           ("zoo3d sample EMPTY …", "EMPTY", True)])
def test_a_path_that_is_no_run_prints_the_pages_sentence(fresh_dir, capsys, row, name, make):
    folder = fresh_dir / "not-a-run"
    if make:
        folder.mkdir()
    code, _, err = run_in_process(capsys, "sample", folder, "--seeds", "0", "--out", fresh_dir / "g.png")
    sentence = documented(row)
    assert code == 2 and as_pattern(sentence, {name: folder}).fullmatch(one_line_error(err)), (sentence, err)
    assert not (fresh_dir / "g.png").exists()


def test_the_helpers_read_the_page_as_written():
    # the cell splitter keeps a `|` inside a code span; the quoted sentence may hold backticks of its own
    assert _cells("| `a|b` | ``x `y` z`` |") == ["`a|b`", "``x `y` z``"]
    assert _quoted("``No run; start one with `zoo3d train gram`.`` (more)") == \
        "No run; start one with `zoo3d train gram`."
    assert as_pattern("Known: a, …, z.").fullmatch("Error: Known: a, b, c, z.")
    assert not as_pattern("Known: a, …, z.").fullmatch("Error: Known: a, z")


def test_a_dangling_latest_gives_the_pages_note(tmp_path):
    """The Checkpoints table's first row: the fallback checkpoint is named relative to the run, as `latest` is."""
    import torch
    from safetensors.torch import save_file

    from zoo3d.train.checkpoint import checkpoint_name, find_checkpoint

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for step in (3, 6000):
        save_file({"generator.w": torch.ones(2)}, str(run / "checkpoints" / checkpoint_name(step)),
                  metadata={"zoo3d.model": "gram"})
    (run / "latest").write_text("checkpoints/step_000009000.safetensors\n")
    note = documented("latest")
    assert note.startswith("note: DIR: ")
    path, said = find_checkpoint(run)
    assert path == run / "checkpoints" / checkpoint_name(6000)
    assert said == note.removeprefix("note: DIR: ")
