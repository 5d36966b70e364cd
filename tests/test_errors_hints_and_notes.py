"""zoo3d.errors: the 'did you mean' candidates and the `note:` / `warning:` lines (docs/errors.md: notes and warnings
on stderr tell you something without stopping), against answers built by hand. difflib's ratio is 2 M / T (M
characters in matching blocks, T the two lengths together); the strings below are made so that M is plain to see."""

from __future__ import annotations

from zoo3d.errors import closest, tell


def test_closest_gives_at_most_three_best_first_down_to_half_alike():
    # ratios against "abcd": abcd 1, abcdx 8/9, abcx 3/4, abxy 1/2, axyz 1/4
    candidates = ["axyz", "abxy", "abcx", "abcdx", "abcd"]
    assert closest("abcd", candidates) == ["abcd", "abcdx", "abcx"]
    assert closest("abcd", candidates, n=5) == ["abcd", "abcdx", "abcx", "abxy"]  # 1/2 is in, 1/4 is not
    assert closest("abcd", ["axyz", "abxy", "wxyz"]) == ["abxy"]
    assert closest("abcd", ["axyz", "wxyz"]) == []


def test_closest_compares_the_text_of_whatever_it_is_given():
    # names may come as numbers or paths: compared as text, returned as text ("123" vs "12": 2 * 2 / 5)
    assert closest(12, [123, 45, "1x"]) == ["123", "1x"]


def test_tell_writes_one_note_or_warning_line_on_stderr_only(capsys):
    tell("using the newest checkpoint")
    tell("ZOO3D_DISABLE_PLUGINS names 'typo'", "warning")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "note: using the newest checkpoint\nwarning: ZOO3D_DISABLE_PLUGINS names 'typo'\n"

