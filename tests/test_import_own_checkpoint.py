"""``zoo3d import`` handed one of zoo3d's own checkpoints (a safetensors file, whatever its name) says that it is one
and how to use it, in one sentence, instead of calling it truncated or unreadable; the authors' pickled releases still
import."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d

CHECKPOINT = next((FIXTURES / "format1" / "gram" / "run" / "checkpoints").glob("*.safetensors"))


def _sentence(path) -> str:
    return (f"{path} is a safetensors file, as zoo3d's own checkpoints are, not one of the authors' releases: use it as "
            f"it is (zoo3d sample, render, export and compare take it), not through zoo3d import.")


def test_a_zoo3d_checkpoint_given_to_import_is_named_for_what_it_is(in_tmp, capsys):
    for name in ("step.safetensors", "gram_ema.pth"):  # a renamed checkpoint is found by its bytes
        shutil.copy(CHECKPOINT, name)
        code, _, err = zoo3d(capsys, "import", "gram", name, "--preset", "tiny", "--out", "run")
        assert code == 2 and one_line_error(err) == "Error: " + _sentence(name)
    assert not (in_tmp / "run").exists()


def test_an_authors_release_still_imports(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "gram", FIXTURES / "releases" / "gram_ema.pth", "--preset", "tiny",
                         "--out", "run")
    assert code == 0, err
