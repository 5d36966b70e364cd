"""A notebook shows the value of ``load_model(...)`` as one line: the model, its step, its checkpoint and its
generator's class, device and dtype, where the dataclass's repr printed every module of the model (some 140 lines
for GRAM's tiny preset)."""

import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.launch import train_model
from zoo3d.runs import load_model


def test_a_loaded_model_is_shown_in_one_line(toy):
    result = train_model("toy", steps=1, progress=False)
    loaded = load_model(str(result.run_dir), device="cpu")
    gen = type(loaded.generator).__name__
    assert repr(loaded) == (f"LoadedModel(name='toy', step=1, checkpoint='{result.checkpoint}', "
                            f"generator={gen}(device=cpu, dtype=torch.float32))")
    loaded.generator.double()
    assert repr(loaded).endswith(f"generator={gen}(device=cpu, dtype=torch.float64))")
    built = load_model(None, model="toy_procedural", device="cpu")
    assert repr(built).startswith("LoadedModel(name='toy_procedural', step=0, checkpoint=None, generator=")
    assert "\n" not in repr(built) and torch.get_default_dtype() == torch.float32
