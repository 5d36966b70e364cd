"""``zoo3d plugins`` and ``zoo3d models`` against what is registered: every row of the JSON against the host's
specs and each model's card read with YAML directly, every table cell built by hand from the JSON, the
``--check`` summary counted by hand, a card for another model and a plugin that fails to load flagged with
exit status 1, and the sentence printed when nothing is registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import run_in_process as zoo3d
from zoo3d.plugins import get_host, reset_host


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # every table fits on one line a row


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]


def _header(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("┃"))
    return [c.strip() for c in line.split("┃")[1:-1]]


def _presets_on_disk() -> int:
    return sum(len(list(Path(s.presets_dir).glob("*.yaml"))) for s in get_host().models if s.presets_dir)


def test_plugins_json_lists_every_plugin_with_what_it_registered(capsys):
    code, out, err = zoo3d(capsys, "plugins", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    host = get_host()
    assert set(rows) == set(host.plugins)
    for kind, registry in (("models", host.models), ("metrics", host.metrics), ("datasets", host.datasets)):
        for spec in registry:
            assert spec.name in rows[spec.plugin]["registered"][kind], (kind, spec.name)
    assert rows["oracle"]["registered"] == {"models": ["oracle", "oracle_inconsistent"]}
    assert all((r["status"], r["error"], r["source"]) == ("ok", None, "zoo3d") for r in rows.values())


def test_the_plugins_table_is_the_json_row_by_row(capsys, wide):
    _, out, _ = zoo3d(capsys, "plugins", "--json")
    expected = [[r["name"], r["source"], r["version"], r["status"],
                 "; ".join(f"{kind}: {', '.join(names)}" for kind, names in r["registered"].items()), ""]
                for r in json.loads(out)]
    code, out, err = zoo3d(capsys, "plugins")
    assert code == 0, err
    assert out.splitlines()[0].strip() == "zoo3d plugins"
    assert _header(out) == ["name", "source", "version", "status", "registered", "error"]
    assert _rows(out) == expected
    assert ["metrics", "zoo3d", "0.1.0", "ok", "metrics: neus, epi, depth, swd, diversity, detail, fid, kid, speed",
            ""] in expected


def _card(spec) -> dict:
    return yaml.safe_load(Path(spec.card).read_text())


def test_models_json_is_each_spec_its_presets_on_disk_and_its_cards_paper(capsys):
    code, out, err = zoo3d(capsys, "models", "--json")
    assert code == 0, err
    rows = json.loads(out)
    specs = list(get_host().models)
    assert [r["name"] for r in rows] == [s.name for s in specs]
    for row, spec in zip(rows, specs):
        assert (row["aliases"], row["kind"], row["summary"], row["source"], row["plugin"], row["version"]) == (
            list(spec.aliases), spec.kind, spec.summary, spec.source, spec.plugin, spec.version)
        on_disk = sorted(p.stem for p in Path(spec.presets_dir).glob("*.yaml")) if spec.presets_dir else []
        assert row["presets"] == on_disk
        assert (row["status"], row["error"]) == ("ok", None)
        if spec.card is None:
            assert (row["paper"], row["results"]) == (None, [])
            continue
        card = _card(spec)
        assert (row["paper"] or {}).get("title") == (card.get("paper") or {}).get("title")
        assert len(row["results"]) == len(card.get("results") or [])
    gram = next(r for r in rows if r["name"] == "gram")
    assert gram["presets"] == ["carla", "cats256", "ffhq256", "tiny"]
    assert gram["paper"]["title"] == "GRAM: Generative Radiance Manifolds for 3D-Aware Image Generation"
    assert any(r["name"] == "triplane" and "eg3d" in r["aliases"] for r in rows)


def test_the_models_table_is_the_json_row_by_row(capsys, wide):
    _, out, _ = zoo3d(capsys, "models", "--json")
    expected = [[r["name"], ", ".join(r["aliases"]), r["kind"], r["source"], ", ".join(r["presets"]),
                 r["paper"]["title"] if r["paper"] else "", "ok"] for r in json.loads(out)]
    code, out, err = zoo3d(capsys, "models")
    assert code == 0, err
    assert out.splitlines()[0].strip() == "zoo3d models"
    assert _header(out) == ["name", "aliases", "kind", "source", "presets", "paper", "status"]
    assert _rows(out) == expected


def test_a_card_for_another_model_is_an_error_in_the_listing_and_fails_the_check(tmp_path, monkeypatch, capsys, wide):
    spec = get_host().models.get("pigan")
    card = tmp_path / "card.yaml"
    card.write_text(Path(spec.card).read_text().replace("name: pigan", "name: pi-gan-v2", 1))
    monkeypatch.setattr(spec, "card", card)
    sentence = f"model card '{card}' is for 'pi-gan-v2', not 'pigan'"
    code, out, _ = zoo3d(capsys, "models", "--json")
    row = next(r for r in json.loads(out) if r["name"] == "pigan")
    assert code == 0 and (row["status"], row["error"]) == ("error", sentence)
    assert row["paper"]["title"] == _card(spec)["paper"]["title"]  # read before the name was compared
    code, out, _ = zoo3d(capsys, "models")
    assert code == 0 and _rows(out)[[r[0] for r in _rows(out)].index("pigan")][-1] == f"error: {sentence}"
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1
    assert f"error: {sentence}" in err.splitlines()
    rows = get_host().check_factories()
    presets = _presets_on_disk()
    assert err.splitlines()[-1] == (f"{len(rows) - 1} of {len(rows)} factories import, {presets} of {presets} presets "
                                    "load; 0 plugins failed to load.")


def test_plugins_check_counts_every_factory_and_exits_0_when_all_import(capsys, wide):
    host = get_host()
    specs = [(registry.kind, spec) for registry in (host.models, host.metrics, host.datasets) for spec in registry]
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 0
    assert out.splitlines()[0].strip() == "zoo3d plugins --check"
    assert _header(out) == ["plugin", "kind", "name", "factory", "status", "error"]
    rows = _rows(out)  # then one row a preset (tests/test_cli_plugins_check_presets.py)
    assert rows[:len(specs)] == [[s.plugin, kind, s.name, s.factory, "ok", ""] for kind, s in specs]
    assert [r[1] for r in rows[len(specs):]] == ["preset"] * _presets_on_disk()
    presets = _presets_on_disk()
    assert err.splitlines() == [f"{len(specs)} of {len(specs)} factories import, {presets} of {presets} presets load; "
                                "0 plugins failed to load."]
    code, out, err = zoo3d(capsys, "plugins", "--check", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [r["name"] for r in doc["plugins"]] == list(host.plugins)
    assert [(r["kind"], r["name"], r["status"]) for r in doc["factories"]] == [(k, s.name, "ok") for k, s in specs]


def test_a_plugin_that_fails_to_load_is_listed_with_its_error_and_fails_the_check(tmp_path, monkeypatch, capsys,
                                                                                    wide):
    (tmp_path / "clb_broken_plugin.py").write_text("raise ImportError('no module named thing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "clb_broken_plugin")
    reset_host()
    code, out, _ = zoo3d(capsys, "plugins", "--json")
    assert code == 0
    broken = next(r for r in json.loads(out) if r["name"] == "clb_broken_plugin")
    assert broken["status"] == "error" and "no module named thing" in broken["error"]
    code, out, _ = zoo3d(capsys, "plugins")
    row = next(r for r in _rows(out) if r[0] == "clb_broken_plugin")
    assert row[3] == "error" and row[5] == broken["error"]
    code, _, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1
    lines = err.splitlines()
    assert f"plugin clb_broken_plugin ({broken['source']}) failed to load: {broken['error']}" in lines
    assert lines[-1].endswith("presets load; 1 plugin failed to load.")


def test_models_says_so_when_no_model_is_registered(monkeypatch, capsys, wide):
    names = ",".join(get_host().plugins)
    monkeypatch.setenv("ZOO3D_DISABLE_PLUGINS", names)
    reset_host()
    code, out, _ = zoo3d(capsys, "models")
    assert code == 0
    assert out.strip() == "No models are registered. `zoo3d plugins` shows which plugins loaded and why not."
    code, out, _ = zoo3d(capsys, "models", "--json")
    assert code == 0 and json.loads(out) == []


def test_a_model_without_a_card_has_no_paper_and_no_results(tmp_path, monkeypatch, capsys):
    from toy_model import use_toy

    use_toy(monkeypatch, tmp_path / "runs")
    code, out, err = zoo3d(capsys, "models", "--json")
    assert code == 0, err
    toy = next(r for r in json.loads(out) if r["name"] == "toy")
    assert set(toy) == {"name", "aliases", "kind", "summary", "source", "plugin", "version", "presets", "status",
                        "error", "paper", "results"}
    assert (toy["paper"], toy["results"], toy["status"]) == (None, [], "ok")


def test_a_card_name_is_matched_with_dashes_as_underscores_and_any_case(tmp_path, monkeypatch, capsys):
    spec = get_host().models.get("gram_hd")
    card = tmp_path / "card.yaml"
    card.write_text(Path(spec.card).read_text().replace(f"name: {_card(spec)['name']}", "name: GRAM-HD", 1))
    monkeypatch.setattr(spec, "card", card)
    code, out, _ = zoo3d(capsys, "models", "--json")
    row = next(r for r in json.loads(out) if r["name"] == "gram_hd")
    assert code == 0 and (row["status"], row["error"]) == ("ok", None)


def test_plugins_check_marks_the_failing_factory_and_wraps_its_error_on_a_console_too_narrow_for_it(
        tmp_path, monkeypatch, capsys):
    spec = get_host().models.get("pigan")
    monkeypatch.chdir(tmp_path)
    Path("card.yaml").write_text(Path(spec.card).read_text().replace("name: pigan", "name: pi-gan-v2", 1))
    monkeypatch.setattr(spec, "card", Path("card.yaml"))
    sentence = "model card 'card.yaml' is for 'pi-gan-v2', not 'pigan'"
    monkeypatch.setenv("COLUMNS", "1000")
    _, out, _ = zoo3d(capsys, "plugins", "--check")
    rows = _rows(out)
    assert [r for r in rows if r[2] == "pigan"] == [["pigan", "model", "pigan", spec.factory, "error", sentence]]
    assert all(r[4:] == ["ok", ""] for r in rows if r[2] != "pigan")
    # the other columns whole, the error column at its 16-column minimum: the table fits only with it wrapped
    others = [max(len(r[i]) for r in rows + [["plugin", "kind", "name", "factory", "status"]]) for i in range(5)]
    narrow = 1 + sum(w + 3 for w in others) + 16 + 3
    monkeypatch.setenv("COLUMNS", str(narrow))
    code, out, _ = zoo3d(capsys, "plugins", "--check")
    assert code == 1 and "field" not in out and max(len(line) for line in out.splitlines()) <= narrow
    lines = [line for line in out.splitlines() if line.startswith("│")]
    start = next(i for i, line in enumerate(lines) if line.split("│")[3].strip() == "pigan")
    wrapped = [lines[start]] + [line for line in lines[start + 1:start + 6] if not line.split("│")[3].strip()]
    assert " ".join(line.split("│")[6].strip() for line in wrapped).split() == sentence.split()
