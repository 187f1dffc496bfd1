"""The filter language: parsing both forms, errors with positions, and the SQL it compiles to,
run against real PostgreSQL rows."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from shared.errors import Unprocessable
from shared.filters import (
    And,
    Eq,
    Exists,
    In,
    Not,
    Or,
    compile_filter,
    parse_filter,
    required_pairs,
    to_json,
)

TEXT = 'plan = "pro" and (country in ("TR", "DE") or not exists age) and score = 3'


def test_text_and_json_forms_agree() -> None:
    parsed = parse_filter(TEXT)
    assert parsed == And(
        (
            Eq("plan", "pro"),
            Or((In("country", ("TR", "DE")), Not(Exists("age")))),
            Eq("score", 3),
        )
    )
    assert parse_filter(to_json(parsed)) == parsed
    assert parse_filter(None) is None and parse_filter("  ") is None


def test_keys_and_values() -> None:
    assert parse_filter('"weird key" = null') == Eq("weird key", None)
    assert parse_filter("a.b = true") == Eq(("a", "b"), True)  # an unquoted dotted name: a path
    assert parse_filter('"a.b" = true') == Eq("a.b", True)  # a quoted one: one property
    assert parse_filter("x = -1.5e2") == Eq("x", -150.0)
    assert parse_filter('NOT x = "a" OR y = "b"') == Or((Not(Eq("x", "a")), Eq("y", "b")))


@pytest.mark.parametrize(
    "text,message",
    [
        ("plan =", "position 7"),
        ('plan = "x" or', "position 14"),
        ("(a = 1", r'expected "\)"'),
        ("a in ()", "position 7"),
        ("a ~ 1", "position 3"),
        ("and = 1", "property name"),
        ("a = b", "a value"),
        ("a = 1 b = 2", "position 7"),
        ("(" * 40 + "a = 1" + ")" * 40, "deeper"),
    ],
)
def test_errors_name_the_position(text: str, message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        parse_filter(text)


@pytest.mark.parametrize(
    "value",
    [
        {"eq": ["a"]},
        {"eq": ["a", {"nested": 1}]},
        {"in": ["a", []]},
        {"and": []},
        {"xor": []},
        {"eq": ["a", 1], "in": ["b", [1]]},
        {"exists": ""},
    ],
)
def test_bad_json_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(Unprocessable):
        parse_filter(value)


ROWS = [
    {"plan": "pro", "country": "TR", "score": 3},
    {"plan": "pro", "country": "FR", "score": 3},
    {"plan": "pro", "country": "FR", "score": 3, "age": 40},
    {"plan": "free", "country": "DE", "score": 3},
    {"plan": "pro", "country": "DE", "score": 3.0, "age": None},
    {"plan": "50%s", "country": "x'); DROP TABLE subscribers; --"},
]


async def _matches(conn: Any, text: str) -> list[int]:
    f = parse_filter(text)
    assert f is not None
    query = sql.SQL(
        "SELECT i FROM unnest(%(rows)s::jsonb[]) WITH ORDINALITY AS t(properties, i)"
        " WHERE {} ORDER BY i"
    ).format(compile_filter(f, "t"))
    cur = await conn.execute(query, {"rows": [Jsonb(r) for r in ROWS]})
    return [row["i"] - 1 for row in await cur.fetchall()]


async def test_compiled_sql_selects_the_right_rows(conn: Any) -> None:
    assert await _matches(conn, TEXT) == [0, 1, 4]
    assert await _matches(conn, "exists age") == [2, 4]
    assert await _matches(conn, "age = null") == [4]
    assert await _matches(conn, 'plan = "50%s"') == [5]
    assert await _matches(conn, 'country = "x\'); DROP TABLE subscribers; --"') == [5]
    assert await _matches(conn, 'not plan in ("pro", "free")') == [5]


async def test_equalities_of_a_conjunction_are_one_containment_test(conn: Any) -> None:
    f = parse_filter('plan = "pro" and country = "FR" and score = 3')
    assert f is not None
    assert compile_filter(f, "t").as_string(None).count("@>") == 1
    assert await _matches(conn, 'plan = "pro" and country = "FR" and score = 3') == [1, 2]
    assert await _matches(conn, 'plan = "pro" and score = 3 and exists age') == [2, 4]
    assert await _matches(conn, 'plan = "pro" and age = null') == [4]


async def test_a_key_compared_twice_in_a_conjunction_stays_two_tests(conn: Any) -> None:
    assert await _matches(conn, 'plan = "pro" and plan = "free"') == []
    assert await _matches(conn, 'plan = "free" and plan = "free" and score = 3') == [3]


def test_required_pairs_are_what_every_selected_row_must_have() -> None:
    def required(text: str) -> dict[str, str | bool]:
        return required_pairs(parse_filter(text))

    assert required('plan = "pro" and (vip = true and not country = "TR")') == {
        "plan": "pro",
        "vip": True,
    }
    assert required('plan = "pro" or vip = true') == {}
    assert required('not plan = "pro"') == {}
    assert required('plan in ("pro", "free") and score = 3 and x = null') == {}
    assert required_pairs(None) == {}
