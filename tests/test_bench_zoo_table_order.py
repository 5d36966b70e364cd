"""``zoo.md``'s sentence on the order of its rows, when the metrics leave out the key that orders them.

docs/zoo.md's second command (``ZOO3D_ZOO_METRICS=epi,depth,swd,diversity,speed``) compares without ``neus``:
no row has ``neus_detail_gain``, so the rows stay in the order they were compared (the calibration models
first), and the table must say that rather than claim a sort that did not happen.
"""

from __future__ import annotations

from zoo3d.benchmarks import zoo


def _entry(mean, std, n):
    return {"mean": mean, "std": std, "n": n}


def _result(models: dict[str, dict]) -> dict:
    return {"models": models, "provenance": {m: {"strictly_3d_consistent": m != "oracle_inconsistent"} for m in models},
            "higher_is_better": {"epi": False, "neus_detail_gain": True}, "notes": []}


TRAINED = {"gram": {"preset": "tiny", "step": 2, "train_s": 30.0, "device": "cpu", "threads": "1"}}


def _rows_and_order_sentence(result: dict, tmp_path) -> tuple[list[str], str]:
    text = zoo.zoo_table(result, TRAINED, {}, zoo.ZooSettings(models=["gram"], out=tmp_path, minutes=0, steps=2),
                         60.0, "cpu", "c")
    lines = text.splitlines()
    rows = [line.split(" | ")[0].lstrip("| ") for line in lines if line.startswith("| ") and "---" not in line][1:]
    [sentence] = [line for line in lines if line.startswith("Rows ")]
    return rows, sentence.split(". ")[0] + "."


def test_without_the_headline_metric_the_rows_keep_the_comparisons_order_and_say_so(tmp_path):
    # epi would sort gram first (lowest) and the inconsistent oracle last; nothing is sorted
    result = _result({"oracle": {"epi": _entry(9.3, 0.0, 1)},
                      "oracle_inconsistent": {"epi": _entry(140.9, 0.0, 1)},
                      "gram": {"epi": _entry(6.8, 0.0, 1)}})
    rows, sentence = _rows_and_order_sentence(result, tmp_path)
    assert rows == ["oracle", "oracle_inconsistent", "gram"]
    assert "sorted" not in sentence and "neus_detail_gain" in sentence
    assert sentence == ("Rows in the order they were compared, the calibration models first (`neus_detail_gain`, "
                        "which orders them, was not among the metrics).")


def test_with_the_headline_metric_the_rows_are_sorted_by_it_and_say_so(tmp_path):
    result = _result({"oracle_inconsistent": {"neus_detail_gain": _entry(0.036, 0.0, 1)},
                      "gram": {"neus_detail_gain": _entry(None, None, 0)},
                      "oracle": {"neus_detail_gain": _entry(1.34, 0.0, 1)}})
    rows, sentence = _rows_and_order_sentence(result, tmp_path)
    assert rows == ["oracle", "oracle_inconsistent", "gram"]     # highest first, the row without a value last
    assert sentence == "Rows sorted by `neus_detail_gain` (highest first)."
