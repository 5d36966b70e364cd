"""The one sentence a config that does not validate is refused with, written out whole for each kind of problem:
an unknown key (with the closest keys, the keys of the section it is in, and the file), a missing key, a bad value,
a section's own check and a check across sections, and a path through lists, maps and keys a validator made."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field, field_validator, model_validator

from zoo3d.config_base import Config, validate
from zoo3d.errors import ConfigError


class Inner(Config):
    alpha: int = 0
    beta: int = 0


class Mid(Config):
    inner: Inner = Field(default_factory=Inner)
    width: int = Field(1, le=2)
    size: int = 4

    @field_validator("size")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even.")
        if value > 8:
            raise ValueError("must be 2X, 4X or 8X")
        return value

    @model_validator(mode="after")
    def _fits(self):
        if self.width * self.size > 4:
            raise ValueError(f"width x size must be at most 4 (got {self.width * self.size})")
        return self


class Outer(Config):
    name: str
    mid: Mid = Field(default_factory=Mid)
    mids: list[Mid] = Field(default_factory=list)
    named: dict[str, Inner] = Field(default_factory=dict)
    opt: Inner | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """``size: N`` for ``mid: {size: N}`` and ``wide: W`` for one more item ``{width: W}`` of ``mids``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "size" in data:
            data["mid"] = {"size": data.pop("size")}
        if "wide" in data:
            data["mids"] = [*data.get("mids", []), {"width": data.pop("wide")}]
        return data

    @model_validator(mode="after")
    def _named_once(self):
        if self.name in self.named:
            raise ValueError(f"name '{self.name}' is also a key of named")
        return self


def _said(data: dict, origin: str | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        validate(Outer, data) if origin is None else validate(Outer, data, origin)
    return str(err.value)


VALID_TOP = "valid keys: name, mid, mids, named, opt"


def test_an_unknown_key_at_the_top_with_two_close_keys_names_both():
    """Without an origin the sentence names no place; with one it does."""
    assert _said({"name": "x", "nme": 1}) == f"Unknown config key 'nme'; did you mean 'name' or 'named' ({VALID_TOP})."
    assert _said({"name": "x", "nme": 1}, "my.yaml") == \
        f"Unknown config key 'nme' in my.yaml; did you mean 'name' or 'named' ({VALID_TOP})."


def test_an_unknown_key_like_no_valid_key_lists_the_valid_keys_only():
    assert _said({"name": "x", "zzzz": 1}) == f"Unknown config key 'zzzz' ({VALID_TOP})."


def test_a_misspelt_key_is_named_before_the_key_it_leaves_missing():
    """pydantic lists the missing ``name`` first; the misspelling is what the user should fix."""
    assert _said({"nme": "x"}) == f"Unknown config key 'nme'; did you mean 'name' or 'named' ({VALID_TOP})."


@pytest.mark.parametrize("data, said", [
    ({"mid": {"inner": {"gamma": 1}}}, "'mid.inner.gamma' (valid keys under 'mid.inner': alpha, beta)"),
    ({"mid": {"inner": {"alpa": 1}}}, "'mid.inner.alpa'; did you mean 'mid.inner.alpha' "
                                      "(valid keys under 'mid.inner': alpha, beta)"),
    ({"mids": [{}, {"inner": {"alpa": 1}}]}, "'mids.1.inner.alpa'; did you mean 'mids.1.inner.alpha' "
                                             "(valid keys under 'mids.1.inner': alpha, beta)"),
    ({"named": {"a": {"betta": 1}}}, "'named.a.betta'; did you mean 'named.a.beta' "
                                     "(valid keys under 'named.a': alpha, beta)"),
    ({"opt": {"zz": 1}}, "'opt.zz' (valid keys under 'opt': alpha, beta)"),
    ({"mid": {"widht": 1}}, "'mid.widht'; did you mean 'mid.width' (valid keys under 'mid': inner, width, size)"),
])
def test_an_unknown_key_in_a_section_names_that_section_s_keys(data, said):
    """The section is found through sub-sections, list items, map values and optional sections alike."""
    assert _said({"name": "x", **data}) == f"Unknown config key {said}."


def test_a_missing_key_is_named():
    assert _said({}) == "Missing config key 'name'."
    assert _said({"mids": []}, "run.yaml") == "Missing config key 'name' in run.yaml."


@pytest.mark.parametrize("data, said", [
    ({"mid": {"width": 3}}, "Invalid value 3 for config key 'mid.width': input should be less than or equal to 2."),
    ({"mid": {"size": 3}}, "Invalid value 3 for config key 'mid.size': must be even."),
    ({"mid": {"size": 10}}, "Invalid value 10 for config key 'mid.size': must be 2X, 4X or 8X."),
    ({"mids": [{}, {"width": 2, "size": 4}]},
     "Invalid config section 'mids.1': width x size must be at most 4 (got 8)."),
    ({"named": {"x": {}}}, "Invalid config: name 'x' is also a key of named."),
])
def test_a_bad_value_a_section_s_check_and_a_check_across_sections_are_one_sentence_each(data, said):
    """The check's own sentence keeps its last word whole and ends with one full stop; pydantic's 'Value error, '
    is left out."""
    assert _said({"name": "x", **data}) == said


@pytest.mark.parametrize("data, said", [
    ({"size": 3}, "Invalid value 3 for config key 'mid.size': must be even."),
    ({"wide": 5}, "Invalid value 5 for config key 'mids.0.width': input should be less than or equal to 2."),
    ({"mids": [{}], "wide": 5},
     "Invalid value 5 for config key 'mids.1.width': input should be less than or equal to 2."),
])
def test_a_key_or_item_a_validator_made_from_the_user_s_keys_is_still_named_whole(data, said):
    """The data the user wrote lacks the section (``mid``) or the list item (``mids.0``) the error is in: the path
    is still given whole, as ``--set`` would take it."""
    assert _said({"name": "x", **data}) == said


def test_the_sentence_made_from_pydantic_s_error_alone_names_no_place():
    """``format_validation_error`` without an origin (a stored run's config, which the caller names itself)."""
    from pydantic import ValidationError

    from zoo3d.config_base import format_validation_error

    with pytest.raises(ValidationError) as err:
        Outer.model_validate({"name": "x", "zzzz": 1})
    assert format_validation_error(err.value, Outer, {"name": "x", "zzzz": 1}) == \
        f"Unknown config key 'zzzz' ({VALID_TOP})."
