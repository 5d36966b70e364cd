"""``RunConfig.ray_range_key`` names where a model's :class:`zoo3d.config.RayRange` sits. A key that names no such
field (a typo, a section renamed) is the config class's own mistake: it is refused where the class is defined, so a
plugin whose factory defines it fails that factory in one sentence (``zoo3d train`` exit status 2, a failed row of
``zoo3d plugins --check``), where every read of the config stopped with an AttributeError traceback and
``plugins --check`` passed a model without presets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typing import Literal

from pydantic import Field, ValidationError

from conftest import one_line_error, run_in_process as zoo3d
from zoo3d.config import Config, RayRange, RunConfig
from zoo3d.plugins import reset_host


class Render(RayRange):
    samples: int = 8


class Section(Config):
    z_dim: int = 8
    render: Render = Field(default_factory=Render)


def test_a_key_naming_no_field_is_refused_where_the_class_is_defined_naming_the_fields():
    with pytest.raises(TypeError) as err:
        class Typo(RunConfig):
            generator: Section = Field(default_factory=Section)
            ray_range_key = "generator.rendr"
    assert str(err.value) == ("Typo.ray_range_key 'generator.rendr' names no field: section 'generator' has no "
                              "'rendr' (its fields: z_dim, render)")


def test_a_key_naming_a_field_that_is_no_ray_range_is_refused():
    with pytest.raises(TypeError, match=r"^Width\.ray_range_key 'generator\.z_dim' must name a zoo3d\.config\."
                                        r"RayRange field, and that field is typed int$"):
        class Width(RunConfig):
            generator: Section = Field(default_factory=Section)
            ray_range_key = "generator.z_dim"
    with pytest.raises(TypeError, match=r"'generator\.z_dim' is not a config section \(it is typed int\), so it "
                                        r"holds no 'near'"):
        class Deeper(RunConfig):
            generator: Section = Field(default_factory=Section)
            ray_range_key = "generator.z_dim.near"


def test_a_key_naming_a_ray_range_is_taken_and_checks_the_radius():
    class Good(RunConfig):
        generator: Section = Field(default_factory=Section)
        ray_range_key = "generator.render"
        scene_radius = "the test's scene: 1"

    assert Good().generator.render.near == 0.88
    with pytest.raises(ValueError, match=r"camera\.radius 2\.7 lies outside .*generator\.render\.near 0\.88 to far "
                                         r"1\.12.*\(the test's scene: 1\)"):
        Good.model_validate({"camera": {"radius": 2.7}})


PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="rays_typo", factory="crk_model:Model"))
'''

MODEL = '''
from typing import Literal

from pydantic import Field, ValidationError

from toy_model import ToyConfig, ToyModel
from zoo3d.config import Config, RayRange


class Section(Config):
    render: RayRange = Field(default_factory=RayRange)


class TypoConfig(ToyConfig):
    generator: Section = Field(default_factory=Section)
    ray_range_key = "generator.rendr"
    scene_radius = "the toy's scene: 1"


class Model(ToyModel):
    config_class = TypoConfig
'''


@pytest.fixture
def typo_plugin(tmp_path, monkeypatch):
    """A plugin (``crk_plugin``) whose model's factory module defines a config with a misspelt ray_range_key."""
    (tmp_path / "crk_plugin.py").write_text(PLUGIN)
    (tmp_path / "crk_model.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))  # toy_model
    monkeypatch.setenv("ZOO3D_PLUGINS", "crk_plugin")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "crk_model", raising=False)
    reset_host()
    yield tmp_path
    sys.modules.pop("crk_model", None)
    reset_host()


def test_zoo3d_train_refuses_the_model_in_one_sentence_before_a_run_folder(typo_plugin, capsys):
    code, _, err = zoo3d(capsys, "train", "rays_typo", "--steps", "1", "--out", str(typo_plugin / "run"))
    assert code == 2
    line = one_line_error(err)
    assert line.startswith("Error: Model 'rays_typo' from plugin 'crk_plugin' cannot be loaded from 'crk_model:Model': "
                           "TypeError: TypoConfig.ray_range_key 'generator.rendr' names no field: section 'generator' "
                           "has no 'rendr' (its fields: render)"), line
    assert not (typo_plugin / "run").exists()


def test_plugins_check_fails_the_factory(typo_plugin, capsys):
    code, out, _ = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 1
    rows = {r["name"]: r for r in json.loads(out)["factories"]}
    assert rows["rays_typo"]["status"] == "error"
    assert "ray_range_key 'generator.rendr' names no field" in rows["rays_typo"]["error"]


def test_without_a_scene_radius_the_refusal_ends_at_its_last_clause():
    """``scene_radius`` is optional (empty by default): the sentence then ends without an empty '()'."""
    class Unnamed(RunConfig):
        generator: Section = Field(default_factory=Section)
        ray_range_key = "generator.render"

    with pytest.raises(ValidationError) as err:
        Unnamed.model_validate({"camera": {"radius": 2.0}})
    assert str(err.value.errors()[0]["ctx"]["error"]).endswith("would cut the head at the origin or miss it; keep the "
                                                              "radius between them")
    with pytest.raises(ValueError, match=r"keep the radius between them$"):
        RayRange(near=0.5, far=1.5).check_camera_radius(2.0, "generator.render", "")


class VolumeRays(RayRange):
    kind: Literal["volume"] = "volume"


class SphereRays(RayRange):
    kind: Literal["sphere"] = "sphere"


class Either(Config):
    render: VolumeRays | SphereRays = Field(default_factory=VolumeRays, discriminator="kind")


def test_a_union_of_ray_ranges_is_taken_and_each_member_checks_the_radius():
    """A renderer chosen by a tagged union of two ``RayRange`` subclasses is a ray range whichever is set."""
    class Chosen(RunConfig):
        generator: Either = Field(default_factory=Either)
        ray_range_key = "generator.render"

    assert Chosen.model_validate({"generator": {"render": {"kind": "sphere", "far": 1.5}},
                                  "camera": {"radius": 1.4}}).generator.render.far == 1.5
    for kind in ("volume", "sphere"):
        with pytest.raises(ValueError, match=r"camera\.radius 1\.4 lies outside .* far 1\.12"):
            Chosen.model_validate({"generator": {"render": {"kind": kind}}, "camera": {"radius": 1.4}})


def test_a_union_that_may_hold_no_ray_range_is_refused():
    with pytest.raises(TypeError, match=r"must name a zoo3d\.config\.RayRange field, and that field is typed "
                                        r"RayRange \| NoneType$"):
        class Maybe(RunConfig):
            generator: Section = Field(default_factory=Section)
            rays: RayRange | None = None
            ray_range_key = "rays"
