"""A run or a checkpoint given from Python as a ``pathlib.Path`` is read as its text is.

A notebook builds its paths with ``pathlib`` (``Path("runs") / name``). One that exists loaded; one that does not
(a typo, a run not trained yet) reached the model-name lookup as a ``Path`` and failed there with
``AttributeError: 'PosixPath' object has no attribute 'strip'``, where the same text gets one sentence.
"""

from pathlib import Path

import pytest

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.errors import UserError
from zoo3d.launch import train_model
from zoo3d.runs import load_model, resolve_checkpoint


@pytest.mark.parametrize("missing", ["runs/tyo", "tyo", "step_000000001.safetensors"])
def test_a_missing_path_gets_the_sentence_its_text_gets(toy, missing):
    for call in (resolve_checkpoint, load_model):
        with pytest.raises(UserError) as as_text:
            call(missing)
        with pytest.raises(UserError) as as_path:
            call(Path(missing))
        assert str(as_path.value) == str(as_text.value)


def test_a_run_and_a_checkpoint_given_as_paths_load(toy):
    result = train_model("toy", steps=1, progress=False)
    assert resolve_checkpoint(Path(result.run_dir)) == result.checkpoint
    for ref in (Path(result.run_dir), Path(result.checkpoint)):
        loaded = load_model(ref, model="toy", device="cpu")
        assert (loaded.checkpoint, loaded.step) == (result.checkpoint, 1)
