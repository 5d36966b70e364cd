"""``zoo3d.eval`` offers the harness's public names to a notebook: ``compare_models`` with what it takes its metrics
from (``load_metrics``) and models from (``load_eval_model``), and completion (``dir``) lists them before their first
use, where ``dir(zoo3d.eval)`` held none of its lazily loaded names and ``from zoo3d.eval import load_metrics`` failed.
"""

import zoo3d.eval
from zoo3d.eval import harness


def test_the_harness_names_import_from_the_package_and_are_the_harness_functions():
    from zoo3d.eval import compare_models, load_eval_model, load_metrics

    assert (compare_models, load_metrics, load_eval_model) == (harness.compare_models, harness.load_metrics,
                                                              harness.load_eval_model)


def test_completion_lists_every_public_name():
    listed = dir(zoo3d.eval)
    assert set(zoo3d.eval.__all__) <= set(listed)
    assert {"compare_models", "load_metrics", "make_protocol", "EvalModel"} <= set(zoo3d.eval.__all__)
