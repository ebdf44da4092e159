"""`${...}` expressions: what they compute, and what they refuse."""

from __future__ import annotations

import pytest

from mnas.spec.expr import ExprError, render, round_half_up


@pytest.mark.parametrize("text,env,expected", [
    ("${1 + 2 * 3}", {}, 7),
    ("${stages[i]}", {"stages": [4, 5], "i": 1}, 5),
    ("${len(stages) - 1}", {"stages": [4, 5, 4, 4]}, 3),
    ("${round(320 / 2 / 32) * 32}", {}, 160),
    ("${round(480 / 2 / 32) * 32}", {}, 256),
    ("${x if x is not None else 7}", {"x": None}, 7),
    ("${a and b or 3}", {"a": 1, "b": 0}, 3),
    ("stage${i + 1}", {"i": 0}, "stage1"),
    ("stem_${stem}", {"stem": "grouped"}, "stem_grouped"),
    ("${[c * 2 for_ in x]}" if False else "${[1, 2][::-1]}", {}, [2, 1]),
    ("${1 < x <= 3}", {"x": 3}, True),
    ("${max(widths[1:])}", {"widths": [9, 3, 5]}, 5),
    ("plain text", {}, "plain text"),
])
def test_render(text, env, expected):
    assert render(text, env) == expected


@pytest.mark.parametrize("text,message", [
    ("${x.__class__}", "is not allowed"),
    ("${__import__('os')}", "unknown function '__import__'"),
    ("${(lambda: 1)()}", "unknown function"),
    ("${[i for i in range(3)]}", "is not allowed"),
    ("${y}", "unknown name 'y'"),
    ("${1 / 0}", "ZeroDivisionError"),
    ("${stages[9]}", "IndexError"),
    ("${1 +}", "invalid expression"),
    ("${len}", "'len' is a function"),
    ("${max(a=1)}", "keyword arguments are not allowed"),
    ("x${1", "unclosed"),
])
def test_refused(text, message):
    with pytest.raises(ExprError, match=message.replace("(", r"\(").replace("[", r"\[")):
        render(text, {"x": 1, "stages": [1]})


def test_unknown_name_suggests():
    with pytest.raises(ExprError, match="did you mean 'stages'"):
        render("${stagse}", {"stages": [1]})


@pytest.mark.parametrize("x,expected", [(0.5, 1), (1.5, 2), (2.5, 3), (-0.5, -1), (7.49, 7)])
def test_round_half_up(x, expected):
    assert round_half_up(x) == expected
