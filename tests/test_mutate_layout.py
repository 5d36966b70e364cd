"""The mutation layout of the config modules (tests/mutate.py, ``undecorate(..., methods=True)``): their classes'
validators laid out undecorated build the same pydantic validators, and under mutmut's trampoline the validator
pydantic runs is the active mutant, so the refusals of bad settings are scored."""

from __future__ import annotations

import re
import sys
import types

import pytest
from pydantic import BaseModel, ValidationError

from conftest import REPO
from mutate import UNDECORATED_METHODS, _flat, undecorate, unwrap_no_grad

pytest.importorskip("libcst")  # the layout's parser, installed with mutmut (the dev extra)


def _load(source: str, name: str) -> types.ModuleType:
    """``source`` run as module ``name`` (pydantic resolves the annotations in ``sys.modules[name]``)."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def loaded():
    names = []

    def load(source: str, name: str) -> types.ModuleType:
        names.append(name)
        return _load(source, name)
    yield load
    for name in names:
        sys.modules.pop(name, None)


def _validators(cls: type[BaseModel]) -> dict[str, dict[str, str]]:
    decorators = cls.__pydantic_decorators__
    return {kind: {name: repr(d.info) for name, d in getattr(decorators, kind).items()}
            for kind in ("validators", "field_validators", "model_validators", "root_validators")}


def _models(module: types.ModuleType) -> dict[str, type[BaseModel]]:
    return {name: cls for name, cls in vars(module).items()
            if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == module.__name__}


@pytest.mark.parametrize("path", UNDECORATED_METHODS)
def test_a_laid_out_config_module_builds_the_validators_of_its_source(path, loaded):
    source = (REPO / path).read_text()
    laid_out = undecorate(unwrap_no_grad(source), methods=True)
    stem = _flat(path).removesuffix(".py").replace("/", "_")
    before, after = loaded(source, f"_layout_src_{stem}"), loaded(laid_out, f"_layout_out_{stem}")
    assert set(_models(before)) == set(_models(after))
    with_validators = 0
    for name, cls in _models(before).items():
        assert _validators(_models(after)[name]) == _validators(cls), name
        with_validators += any(_validators(cls).values())
    assert with_validators, f"{path} has no validators to lay out"
    # left on a method: nothing, or a lone @classmethod / @staticmethod, which mutmut mutates
    for decorators in re.findall(r"((?:^[ \t]+@.*\n)+)[ \t]+def ", laid_out, re.M):
        assert re.fullmatch(r"[ \t]+@(classmethod|staticmethod)\n", decorators), decorators


def test_field_validator_keeps_its_classmethod_inside_and_the_assignment_follows_the_def():
    source = ('class A(B):\n    x: int = 0\n\n    @field_validator("x", mode="before")\n    @classmethod\n'
              '    def _v(cls, value):\n        return value\n\n    @property\n    def p(self):\n        return 1\n')
    assert undecorate(source, methods=True) == (
        'class A(B):\n    x: int = 0\n\n    @classmethod\n    def _v(cls, value):\n        return value\n'
        '    _v = (field_validator("x", mode="before"))(_v)\n\n    def p(self):\n        return 1\n'
        '    p = (property)(p)\n')
    assert undecorate(source) == source  # without methods: module-level functions only


def _mutants(path: str, methods: tuple[str, ...], name: str, loaded, monkeypatch,
             tmp_path) -> tuple[types.ModuleType, list[str]]:
    """``path`` laid out, its ``methods`` mutated by mutmut with its trampolines, run as module ``name``; and the
    mutants' names."""
    file_mutation = pytest.importorskip("mutmut.mutation.file_mutation")
    configuration = pytest.importorskip("mutmut.configuration")
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["."]\n')
    monkeypatch.chdir(tmp_path)  # mutmut reads its settings from the working directory
    monkeypatch.setattr(configuration, "_config", None)
    laid_out = undecorate(unwrap_no_grad((REPO / path).read_text()), methods=True)
    lines = laid_out.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"    def ({'|'.join(methods)})\(", line)]
    covered = {n + 1 for i in starts for n in range(i, next(j for j in range(i + 1, len(lines))
                                                           if re.match(r"    \S", lines[j])))}
    mutated = file_mutation.mutate_file_contents(path, laid_out, covered_lines=covered)  # those methods only
    return loaded(mutated.code, name), list(mutated.mutant_names)


def _outcome(build) -> str:
    try:
        build()
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return "accepted"


def test_under_the_trampoline_pydantic_runs_the_active_mutant_of_a_model_and_a_field_validator(loaded, monkeypatch,
                                                                                              tmp_path):
    name = "_layout_trampoline_config"
    module, mutants = _mutants("zoo3d/config.py", ("_one_ema_ramp", "_clip"), name, loaded, monkeypatch,
                               tmp_path)
    ramps = lambda: module.TrainConfig(ema_warmup=True, ema_rampup=0.05)  # noqa: E731
    clip = lambda: module.StageConfig(name="s", steps=1, batch_size=1, lr={"g": 1.0}, grad_clip=-1.0)  # noqa: E731
    monkeypatch.setenv("MUTANT_UNDER_TEST", "")
    refused = {"ramps": _outcome(ramps), "clip": _outcome(clip)}
    assert refused["ramps"].startswith("Value error, train.ema_warmup and train.ema_rampup are two ramps")
    assert refused["clip"].startswith("Value error, must be a finite number above 0")
    changed = {"ramps": 0, "clip": 0}
    for key, build, method in (("ramps", ramps, "xǁTrainConfigǁ_one_ema_ramp__mutmut_"),
                               ("clip", clip, "xǁStageConfigǁ_clip__mutmut_")):
        chosen = [m for m in mutants if m.startswith(method)]
        assert chosen, method
        for mutant in chosen:
            monkeypatch.setenv("MUTANT_UNDER_TEST", f"{name}.{mutant}")
            changed[key] += _outcome(build) != refused[key]
    assert changed["ramps"] and changed["clip"], changed
