"""The hand-written mutants (tests/named_mutants.py, ``make mutate-named``) still point at code and tests that exist:
a refactor that moves the mutated line would otherwise leave a mutant that silently tests nothing."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from named_mutants import MUTANTS


@pytest.mark.parametrize("name, path, original, mutated, tests", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_each_mutant_finds_its_line_once_and_names_tests_that_exist(name, path, original, mutated, tests):
    assert (REPO / path).read_text().count(original) == 1, f"{name}: the original text is not in {path} once"
    assert original != mutated
    for test in tests:
        file, _, func = test.partition("::")
        assert (REPO / file).is_file(), test
        if func:
            assert re.search(rf"^def {re.escape(func.split('[')[0])}\(", (REPO / file).read_text(), re.M), test
