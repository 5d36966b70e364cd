"""``RunConfig``'s class settings (``stage_names``, ``stage_roles``, ``resolution_keys``, ``ray_range_key``,
``scene_radius``) are class attributes. Written with a type, as a field is (``ray_range_key: str = "..."``), pydantic
made each a config key while the class kept the base's empty setting: a camera radius outside the rays was accepted
without a word and ``--set ray_range_key=...`` was a key. Such a class is refused where it is defined."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field

from zoo3d.config import Config, RayRange, RunConfig, StageConfig


class Section(Config):
    render: RayRange = Field(default_factory=RayRange)


def test_a_typed_ray_range_key_is_refused_where_the_class_is_defined():
    with pytest.warns(UserWarning, match="shadows an attribute"), pytest.raises(TypeError) as err:
        class Typed(RunConfig):
            generator: Section = Field(default_factory=Section)
            ray_range_key: str = "generator.render"
    assert str(err.value) == ("Typed.ray_range_key is a class setting of RunConfig, not a config key: assign it "
                              "without a type (ray_range_key = ...) or as ClassVar[...]; with one, pydantic makes it "
                              "a field and zoo3d never reads it")


@pytest.mark.parametrize("name, value", [("stage_names", ("gan",)), ("stage_roles", {"gan": ("G", "D")}),
                                         ("resolution_keys", "generator.resolution"), ("scene_radius", "a scene: 1")])
def test_every_class_setting_written_with_a_type_is_refused(name, value):
    with pytest.warns(UserWarning), pytest.raises(TypeError, match=rf"^Typed\.{name} is a class setting"):
        type("Typed", (RunConfig,), {"__annotations__": {name: type(value)}, name: value,
                                     "__module__": __name__})


def test_untyped_and_classvar_settings_are_read():
    """The two spellings the refusal offers both configure the class: the radius check they ask for runs."""
    class Untyped(RunConfig):
        generator: Section = Field(default_factory=Section)
        ray_range_key = "generator.render"
        stage_names = ("gan",)

    class Declared(RunConfig):
        generator: Section = Field(default_factory=Section)
        ray_range_key: ClassVar[str] = "generator.render"

    stages = [StageConfig(name="gan", steps=1, batch_size=1, lr={"g": 1e-3}).model_dump()]
    for cls in (Untyped, Declared):
        assert "ray_range_key" not in cls.model_fields
        with pytest.raises(ValueError, match=r"camera\.radius 2\.7 lies outside the generator's ray range"):
            cls.model_validate({"camera": {"radius": 2.7}, "stages": stages})
        assert cls.model_validate({"camera": {"radius": 1.1}, "stages": stages}).camera.radius == 1.1
    with pytest.raises(ValueError, match=r"recipe has the stages \['gan'\]"):
        Untyped.model_validate({"stages": [dict(stages[0], name="other")]})
