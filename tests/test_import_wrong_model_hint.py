"""``zoo3d import MODEL FILE`` with a release of another model: the refusal says which model's importer takes the
file (the releases' formats differ: StyleSDF's ``g_ema`` dict, EG3D's ``G_ema`` snapshot, GRAM's state dict), so the
user knows what to type instead; a file no importer takes gets no such clause."""

from __future__ import annotations

import pytest
import torch

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASES = FIXTURES / "releases"


@pytest.mark.parametrize("model, name, kind", [("stylesdf", "eg3d_snapshot.pkl", "triplane"),
                                               ("pigan", "stylesdf_full.pt", "stylesdf"),
                                               ("triplane", "gram_generator.pth", "gram")])
def test_a_release_of_another_model_names_the_model_that_takes_it(in_tmp, capsys, model, name, kind):
    code, _, err = zoo3d(capsys, "import", model, RELEASES / name, "--preset", "tiny", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert line.startswith(f"Error: {RELEASES / name} ")
    assert line.endswith(f"; it reads as a {kind} release: import it as model {kind}.")
    assert line.count("import it as model") == 1


def test_a_file_no_importer_takes_gets_no_model_named(in_tmp, capsys):
    torch.save({"weights": torch.zeros(3)}, in_tmp / "other.pt")
    code, _, err = zoo3d(capsys, "import", "stylesdf", "other.pt", "--preset", "tiny", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and "reads as" not in line and "import it as model" not in line
    assert line == "Error: other.pt is not a StyleSDF checkpoint: it has no 'g_ema' generator weights."


def test_the_gram_importers_own_hint_is_not_repeated(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "gram", RELEASES / "gram_hd_ffhq256.pt", "--preset", "tiny", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and line.count("import it as model gram_hd") == 1


def test_the_gram_hd_importers_own_model_name_is_not_said_again(in_tmp, capsys):
    """GRAM-HD's importer names the model that takes a GRAM file ("imports as model gram") in its own words."""
    code, _, err = zoo3d(capsys, "import", "gram_hd", RELEASES / "gram_generator.pth", "--preset", "ffhq256",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and line.count("as model gram") == 1, line
    assert line.endswith("(a GRAM generator.pth imports as model gram).")
