"""What each built-in plugin registers, against what documents it: the model card its package ships (read here with
yaml, not through zoo3d.cards), and the `requires` and `roles` rows of docs/plugins.md's ModelSpec table (written out
below: the mutation layout does not copy docs/)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from zoo3d.plugins import get_host, models_with_role

# model -> (entry point that registers it, package that ships its card and presets, its card's file name)
BUILTIN = {
    "gram": ("gram", "zoo3d_gram", "card.yaml"),
    "gram_hd": ("gram_hd", "zoo3d_gram_hd", "card.yaml"),
    "gram_inverter": ("gram_inverter", "zoo3d_gram_inverter", "card.yaml"),
    "triplane": ("triplane", "zoo3d_triplane", "card.yaml"),
    "stylesdf": ("stylesdf", "zoo3d_stylesdf", "card.yaml"),
    "pigan": ("pigan", "zoo3d_pigan", "card.yaml"),
    "oracle": ("oracle", "zoo3d_oracle", "card.yaml"),
    "oracle_inconsistent": ("oracle", "zoo3d_oracle", "inconsistent_card.yaml"),
}

# docs/plugins.md, `requires`: "("gram",) for GRAM-HD and GRAMInverter"
REQUIRES = {"gram_hd": ("gram",), "gram_inverter": ("gram",)}

# docs/plugins.md, `roles`: demo (GRAM-HD), bench:models (GRAM, GRAM-HD), bench:freeview (GRAM-HD), bench:invert
# (GRAMInverter), bench:zoo (GRAM, GRAM-HD, tri-plane, StyleSDF, pi-GAN), bench:zoo-control (the two oracles)
ROLES = {
    "demo": {"gram_hd"},
    "bench:models": {"gram", "gram_hd"},
    "bench:freeview": {"gram_hd"},
    "bench:invert": {"gram_inverter"},
    "bench:zoo": {"gram", "gram_hd", "triplane", "stylesdf", "pigan"},
    "bench:zoo-control": {"oracle", "oracle_inconsistent"},
}


def package_dir(package: str) -> Path:
    return Path(importlib.util.find_spec(package).submodule_search_locations[0]).resolve()


def card_of(model: str) -> dict:
    _, package, card_file = BUILTIN[model]
    return yaml.safe_load((package_dir(package) / card_file).read_text())


def folded(name: str) -> str:  # docs/plugins.md: names match case-insensitively with `-` equal to `_`
    return name.lower().replace("-", "_")


@pytest.mark.parametrize("model", sorted(BUILTIN))
def test_each_builtin_model_is_its_cards_name_kind_and_aliases_registered_by_its_own_plugin(model):
    entry_point, package, card_file = BUILTIN[model]
    spec = get_host().models.get(model)
    card = card_of(model)
    assert (spec.name, spec.kind, spec.plugin, spec.source) == (card["name"], card["kind"], entry_point, "zoo3d")
    # the card lists spellings of the name itself too ("styleSDF"); every other alias is registered as written
    assert list(spec.aliases) == [a for a in card["aliases"] if folded(a) != folded(card["name"])]
    assert Path(spec.card).resolve() == package_dir(package) / card_file
    assert spec.factory.split(":")[0].split(".")[0] == package  # its code lives in the package that ships its card


@pytest.mark.parametrize("model", sorted(BUILTIN))
def test_each_builtin_model_requires_what_docs_say_it_builds_on(model):
    assert get_host().models.get(model).requires == REQUIRES.get(model, ())


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_is_declared_by_the_builtin_models_docs_name_for_it(role):
    assert {spec.name for spec in models_with_role(role)} == ROLES[role]


def test_no_builtin_model_declares_a_role_docs_do_not_list():
    for model in BUILTIN:
        assert set(get_host().models.get(model).roles) <= set(ROLES), model


@pytest.mark.parametrize("model", sorted(BUILTIN))
def test_each_summary_is_one_line_in_its_cards_words_and_spelling(model):
    """`zoo3d models` shows the spec's one-line summary; it opens with the word the card's summary opens with (the
    method's name, spelt the same), every capitalised word in it (an acronym, a method) is one the card uses, and
    a venue and year it gives are the card's paper's."""
    summary = get_host().models.get(model).summary
    card = card_of(model)
    assert isinstance(summary, str) and "\n" not in summary and summary == summary.strip()
    assert summary.split()[0].rstrip(":") == card["summary"].split()[0].rstrip(":")
    card_words = set(re.split(r"[^A-Za-z0-9]+", yaml.safe_dump(card)))
    named = [w for w in re.split(r"[^A-Za-z0-9]+", summary) if len(w) > 1 and w[0].isalpha() and w != w.lower()]
    assert named and [w for w in named if w not in card_words] == []
    cited = re.findall(r"\b([A-Za-z]+) ((?:19|20)\d\d)\b", summary)
    paper = card["paper"] or {}
    assert cited in ([], [(paper.get("venue"), str(paper.get("year")))])
