"""Specs on their own (docs/plugins.md): an import string resolved only when the spec is loaded, presets listed from
their folder, and every way a factory can fail as one sentence naming the kind, the spec, the plugin and the error.

Each test writes the plugin code it loads into its own module under tmp_path, so what was imported, and the file and
line of a raise inside it, are known by construction.
"""

from __future__ import annotations

import sys
import textwrap
from fractions import Fraction

import pytest

from zoo3d.errors import PluginError
from zoo3d.specs import DATASET_FACTORY_CALL, DatasetSpec, MetricSpec, ModelSpec, describe_exception, import_object


@pytest.fixture
def plugin_code(tmp_path, monkeypatch):
    """Write ``source`` as module ``name`` on sys.path (not imported); returns the file's path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(name: str, source: str):
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        written.append(name)
        return path

    yield write
    for name in written:
        sys.modules.pop(name, None)


MODEL_MODULE = """
from zoo3d.core.model import ModelPlugin

class Model(ModelPlugin):
    def build(self, config):
        return {}

    def stages(self, config):
        return []

class Holder:
    class Inner(Model):
        pass

number = 7
"""


def test_an_import_string_resolves_module_attribute_and_dotted_path(plugin_code):
    plugin_code("zoo3d_spec_paths", MODEL_MODULE)
    module = import_object("zoo3d_spec_paths")
    assert module is sys.modules["zoo3d_spec_paths"] and import_object("zoo3d_spec_paths:") is module
    assert import_object("zoo3d_spec_paths:Model") is module.Model
    assert import_object("zoo3d_spec_paths:Holder.Inner") is module.Holder.Inner
    anything = object()
    assert import_object(anything) is anything and import_object(module.Model) is module.Model


def test_presets_are_the_yaml_stems_of_the_presets_folder_in_name_order(tmp_path):
    for name in ("paper.yaml", "tiny.yaml", "base.yaml", "notes.txt"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.yaml").write_text("{}")
    assert ModelSpec("m", "a:B", presets_dir=tmp_path).presets() == ["base", "paper", "tiny"]
    assert ModelSpec("m", "a:B", presets_dir=str(tmp_path)).presets() == ["base", "paper", "tiny"]
    assert ModelSpec("m", "a:B", presets_dir=tmp_path / "missing").presets() == []
    assert ModelSpec("m", "a:B", presets_dir=tmp_path / "tiny.yaml").presets() == []  # a file, not a folder


def refusal(spec) -> str:
    with pytest.raises(PluginError) as info:
        spec.load()
    return str(info.value)


def test_a_module_that_is_not_there_is_one_sentence_naming_plugin_spec_and_import():
    text = refusal(ModelSpec("Ghost", "zoo3d_spec_no_such_module:Model", plugin="haunted"))
    assert text.startswith("Model 'Ghost' from plugin 'haunted' cannot be loaded from "
                           "'zoo3d_spec_no_such_module:Model': ModuleNotFoundError: No module named "
                           "'zoo3d_spec_no_such_module'") and text.endswith(".") and "\n" not in text
    assert refusal(MetricSpec("ghost", "zoo3d_spec_no_such_module:M")).startswith(
        "Metric 'ghost' from its plugin cannot be loaded from 'zoo3d_spec_no_such_module:M': ")


def test_a_missing_attribute_and_a_raising_constructor_name_the_error_and_where_it_was_raised(plugin_code):
    path = plugin_code("zoo3d_spec_raises", """
        from zoo3d.core.model import ModelPlugin

        class Broken(ModelPlugin):
            def __init__(self):
                raise RuntimeError("needs a GPU\\nsecond line")

            def build(self, config):
                return {}

            def stages(self, config):
                return []
        """)
    text = refusal(ModelSpec("b", "zoo3d_spec_raises:Nope", plugin="p"))
    assert text.startswith("Model 'b' from plugin 'p' cannot be loaded from 'zoo3d_spec_raises:Nope': AttributeError: "
                           "module 'zoo3d_spec_raises' has no attribute 'Nope'") and text.endswith(".")
    line = path.read_text().splitlines().index('        raise RuntimeError("needs a GPU\\nsecond line")') + 1
    assert refusal(ModelSpec("b", "zoo3d_spec_raises:Broken", plugin="p")) == (
        f"Model 'b' from plugin 'p' cannot be loaded from 'zoo3d_spec_raises:Broken': RuntimeError: needs a GPU "
        f"({path}:{line}).")


def test_a_module_that_raises_on_import_is_imported_only_on_load_and_names_its_own_line(plugin_code):
    path = plugin_code("zoo3d_spec_import_fails", "x = 1\nraise ImportError('torch_scatter is not installed')\n")
    spec = DatasetSpec("d", "zoo3d_spec_import_fails:f", plugin="p")
    assert spec.key == "d" and "zoo3d_spec_import_fails" not in sys.modules  # made and named without importing
    assert refusal(spec) == (
        "Dataset 'd' from plugin 'p' cannot be loaded from 'zoo3d_spec_import_fails:f': ImportError: torch_scatter "
        f"is not installed ({path}:2).")


def _raise(exc):
    raise exc


def _raised_through(*files: str) -> ValueError:
    """ValueError('deep') raised on line 2 of the last of ``files``, each calling the next on its line 2 (code
    compiled under those names), with only their frames in its traceback."""
    namespace: dict = {}
    call = "raise ValueError('deep')"
    for i, name in reversed(list(enumerate(files))):
        exec(compile(f"def f{i}():\n    {call}\n", name, "exec"), namespace)
        call = f"f{i}()"
    try:
        namespace["f0"]()
    except ValueError as exc:
        return exc.with_traceback(exc.__traceback__.tb_next)  # without this function's frame


def test_the_place_named_is_the_last_frame_outside_importlib_and_specs(tmp_path):
    plugin, helper = str(tmp_path / "plugin.py"), str(tmp_path / "helpers.py")
    frozen, importlib_file, specs_file = "<frozen importlib._bootstrap>", "/lib/importlib/__init__.py", "/x/specs.py"
    assert describe_exception(_raised_through(plugin)) == f"ValueError: deep ({plugin}:2)"
    assert describe_exception(_raised_through(plugin, frozen)) == f"ValueError: deep ({plugin}:2)"
    assert describe_exception(_raised_through(plugin, importlib_file, specs_file)) == f"ValueError: deep ({plugin}:2)"
    assert describe_exception(_raised_through(plugin, helper, specs_file)) == f"ValueError: deep ({helper}:2)"
    # inside the machinery: no place
    assert describe_exception(_raised_through(specs_file, frozen)) == "ValueError: deep"


def test_an_error_without_a_message_is_its_type_and_where():
    try:
        _raise(KeyError())
    except KeyError as exc:
        assert describe_exception(exc) == f"KeyError ({__file__}:{_raise.__code__.co_firstlineno + 1})"
    try:
        _raise(ValueError("  \n  "))
    except ValueError as exc:  # blank: no message to quote
        assert describe_exception(exc) == f"ValueError ({__file__}:{_raise.__code__.co_firstlineno + 1})"
    # never raised: no traceback, no place
    assert describe_exception(ValueError("first\nsecond")) == "ValueError: first"
    assert describe_exception(ValueError()) == "ValueError"


def test_an_object_of_the_wrong_type_is_named_with_the_type_it_must_be(plugin_code):
    plugin_code("zoo3d_spec_types", MODEL_MODULE)
    assert refusal(ModelSpec("n", "zoo3d_spec_types:number", plugin="p")) == \
        "Model 'n' from plugin 'p': 'zoo3d_spec_types:number' gives a int, not a ModelPlugin."
    assert refusal(MetricSpec("m", "zoo3d_spec_types:Model", plugin="p")) == \
        "Metric 'm' from plugin 'p': 'zoo3d_spec_types:Model' gives a Model, not a Metric."
    third = Fraction(1, 3)  # a factory given as an object is named by its repr, 'Fraction(1, 3)', not '1/3'
    assert refusal(ModelSpec("o", third)) == \
        "Model 'o' from its plugin: 'Fraction(1, 3)' gives a Fraction, not a ModelPlugin."


class Recorder:
    """A dataset factory that records how it was called."""

    calls: list = []

    def __init__(self, cfg, resolution, *, query="", camera_prior=None, seed=0):
        Recorder.calls.append((cfg, resolution, query, camera_prior, seed))


def test_a_dataset_class_is_the_factory_and_build_calls_it_the_documented_way():
    Recorder.calls = []
    spec = DatasetSpec("rec", Recorder, plugin="p")
    assert spec.load() is Recorder and Recorder.calls == []  # not made without its arguments
    cfg, prior = object(), object()
    assert isinstance(spec.build(cfg, 64, query="a=1", camera_prior=prior, seed=5), Recorder)
    spec.build(cfg, 32)
    assert Recorder.calls == [(cfg, 64, "a=1", prior, 5), (cfg, 32, "", None, 0)]


def test_a_dataset_factory_that_cannot_be_called_or_takes_another_call_is_one_sentence():
    assert refusal(DatasetSpec("d", 3, plugin="p")) == \
        "Dataset 'd' from plugin 'p': its factory gives a int, which cannot be called to build the dataset."

    def two_args(cfg, resolution):
        return None

    text = refusal(DatasetSpec("d", two_args, plugin="p"))
    assert text.startswith(f"Dataset 'd' from plugin 'p': '{two_args!r}' cannot be called as zoo3d calls a dataset "
                           f"factory, {DATASET_FACTORY_CALL} (got an unexpected keyword argument")
    assert DATASET_FACTORY_CALL == "factory(cfg, resolution, query=..., camera_prior=..., seed=...)"


def _no_camera_prior(cfg, resolution, query="", seed=0):
    return None


def _no_seed(cfg, resolution, query="", camera_prior=None):
    return None


def _no_query(cfg, resolution, camera_prior=None, seed=0):
    return None


def _positional_only(cfg, /, resolution, *, query, camera_prior, seed):
    return None


@pytest.mark.parametrize("factory, missing", [(_no_camera_prior, "camera_prior"), (_no_seed, "seed"),
                                              (_no_query, "query")])
def test_a_dataset_factory_missing_any_keyword_of_the_call_is_refused_naming_it(factory, missing):
    assert f"got an unexpected keyword argument '{missing}'" in refusal(DatasetSpec("d", factory, plugin="p"))
    assert DatasetSpec("d", _positional_only).load() is _positional_only  # takes the call, so it is kept
