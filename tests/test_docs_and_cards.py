"""Every hook is documented, every model card validates, every registered model has a card and presets."""

from __future__ import annotations

import pytest

from conftest import REPO
from zoo3d.cards import load_card
from zoo3d.errors import ConfigError
from zoo3d.plugins import Hookspecs, get_host


def test_every_hook_is_documented_in_plugins_md():
    text = (REPO / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(Hookspecs) if name.startswith("zoo3d_")]
    assert len(hooks) == 4
    for hook in hooks:
        assert f"### `{hook}(" in text, f"{hook} has no section in docs/plugins.md"


CARDS = sorted((REPO / "plugins").glob("zoo3d_*/*card.yaml"))


@pytest.mark.parametrize("card", CARDS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_model_cards_validate(card):
    parsed = load_card(card)
    expected = card.parent.name.removeprefix("zoo3d_") + ("_inconsistent" if card.stem.startswith("inconsistent") else "")
    assert parsed.name.lower().replace("-", "_") == expected
    for result in parsed.results:
        assert result.table.strip(), f"{card.name}: every reported number names its table"


def test_registered_models_have_valid_cards_and_presets():
    for spec in get_host().models:
        assert spec.card is not None, f"model {spec.name} has no card"
        card = load_card(spec.card)
        assert card.kind == spec.kind
        assert spec.default_preset in spec.presets() or not spec.presets(), spec.name
        assert set(card.presets) <= set(spec.presets()), f"{spec.name}: card lists presets that do not exist"


def test_a_broken_card_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresults:\n  - {table: T1, dataset: FFHQ, metric: FID, valeu: 3}\n")
    with pytest.raises(ConfigError, match=r"Unknown config key 'results.0.valeu'.*did you mean 'results.0.value'"):
        load_card(bad)
