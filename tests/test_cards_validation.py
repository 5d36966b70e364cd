"""Model cards as docs/plugins.md promises a plugin author: a card that states only its name takes the schema's
defaults, and a card that cannot be read or has a missing or wrong field is refused in one sentence that names
the file (as a model card) and the key."""

from __future__ import annotations

import re

import pytest

from zoo3d.cards import ModelCard, load_card
from zoo3d.errors import ConfigError

FULL = """\
name: hello
aliases: [hi, hello-world]
kind: generator
summary: a field of coloured blobs
paper: {title: "Blobs", authors: ["A. Author", "B. Author"], venue: "CVPR", year: 2024, url: "https://x"}
results:
  - {table: "Table 1", dataset: FFHQ, metric: FID, value: 12.3, resolution: 256}
  - {table: "Table 2", dataset: CARLA, metric: KID, value: "1.2 +- 0.1"}
presets: [tiny]
parity:
  - {upstream: "owner/repo@abc123", setting: "64², fp32 CPU", what: image, max_abs: 1.0e-6, command: "make parity"}
notes: ""
"""


def _card(tmp_path, text: str, name: str = "card.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_card_loads_and_the_same_card_with_a_wrong_number_is_refused_naming_it(tmp_path):
    card = load_card(_card(tmp_path, FULL))
    assert (card.name, card.aliases, card.kind, card.presets) == ("hello", ["hi", "hello-world"], "generator", ["tiny"])
    assert (card.paper.title, card.paper.authors, card.paper.year) == ("Blobs", ["A. Author", "B. Author"], 2024)
    assert [(r.table, r.dataset, r.metric, r.value, r.resolution) for r in card.results] == [
        ("Table 1", "FFHQ", "FID", 12.3, 256), ("Table 2", "CARLA", "KID", "1.2 +- 0.1", None)]
    (parity,) = card.parity
    assert (parity.upstream, parity.what, parity.max_abs, parity.notes) == ("owner/repo@abc123", "image", 1e-6, "")
    # a card naming only its model: no aliases, a generator, no paper, no numbers, no parity records
    bare = load_card(_card(tmp_path, "name: bare\n", "bare.yaml"))
    assert bare == ModelCard(name="bare")
    assert (bare.aliases, bare.kind, bare.paper, bare.results, bare.presets, bare.parity) == (
        [], "generator", None, [], [], [])
    # given as a string path, the refusal names the file as given
    path = _card(tmp_path, FULL.replace("resolution: 256", "resolution: big"), "wrong.yaml")
    with pytest.raises(ConfigError, match=re.escape(f"'results.0.resolution' in {path}: ")):
        load_card(str(path))


@pytest.mark.parametrize("text, sentence", [
    ("summary: no name\n", "Missing config key 'name' in {path}."),
    ("name: x\nresults:\n  - {dataset: FFHQ, metric: FID, value: 3}\n", "Missing config key 'results.0.table' in {path}."),
    ("name: x\nresults:\n  - {table: T1, dataset: FFHQ, metric: FID}\n", "Missing config key 'results.0.value' in {path}."),
    ("name: x\npaper: {authors: [a]}\n", "Missing config key 'paper.title' in {path}."),
    ("name: x\nparity:\n  - {upstream: a/b@c, setting: s, what: image}\n",
     "Missing config key 'parity.0.max_abs' in {path}."),
    ("name: x\nkind: gan\n",
     "Invalid value 'gan' for config key 'kind' in {path}: input should be 'generator', 'inverter' or 'calibration'."),
    ("name: x\nparity:\n  - {upstream: a/b@c, setting: s, what: image, max_abs: big}\n",
     "Invalid value 'big' for config key 'parity.0.max_abs' in {path}: input should be a valid number, unable to "
     "parse string as a number."),
])
def test_a_card_with_a_missing_or_wrong_field_is_one_sentence_naming_the_file_and_key(tmp_path, text, sentence):
    path = _card(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_card(path)
    assert str(err.value) == sentence.format(path=path)


@pytest.mark.parametrize("text, sentence", [
    (None, "Model card '{path}' does not exist."),
    ("name: [x\n", "Model card '{path}' is not valid YAML at line 2."),
    ("- name: x\n", "Model card '{path}' must hold a mapping of keys to values."),
])
def test_a_card_that_cannot_be_read_is_called_a_model_card_with_its_path(tmp_path, text, sentence):
    path = tmp_path / "card.yaml" if text is None else _card(tmp_path, text)
    with pytest.raises(ConfigError, match="^" + re.escape(sentence.format(path=path)) + "$"):
        load_card(path)

