"""Hypothesis on the filter language (shared/filters): any text or JSON is either a filter or
an Unprocessable (a 422, never a 500), and every filter that parses compiles to SQL that
PostgreSQL runs without error against the real subscribers table (inside a transaction that is
rolled back). Injection strings in keys and values are matched literally."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.errors import Unprocessable
from shared.filters import compile_filter, parse_filter, to_json

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))

INJECTIONS = [
    "x'); DROP TABLE subscribers; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "50%s",
    "%(x)s",
    "{}",
    "a\\'b",
    "$$; SELECT 1; $$",
    "properties",
    "?",
    "?|",
    "\\",
    "é ü 中 🙂",
]


@pytest.fixture(scope="module")
def db(database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        yield conn


def run_filter(db: psycopg.Connection[Any], text_or_json: Any) -> list[int] | None:
    """Parse, compile and run a filter; None if refused (422). Anything else fails the test."""
    try:
        return _run_filter(db, text_or_json)
    except Exception:
        db.rollback()
        raise


def _run_filter(db: psycopg.Connection[Any], text_or_json: Any) -> list[int] | None:
    try:
        f = parse_filter(text_or_json)
    except Unprocessable:
        return None
    if f is None:
        return None
    assert parse_filter(to_json(f)) == f, "the stored JSON form means the same filter"
    query = sql.SQL(
        "SELECT id FROM subscribers WHERE sender_id = %(sender)s AND {} ORDER BY id"
    ).format(compile_filter(f))
    try:
        return [r["id"] for r in db.execute(query, {"sender": -1}).fetchall()]
    finally:
        db.rollback()


# --- text that is not meant to parse -------------------------------------------------------


@FUZZ
@given(st.text(max_size=200))
@example('a = "\\q"')
@example('a = "\\u12"')
@example('a = "\\ud800"')
@example('a = "\\u0000"')
@example('"\\u0000" = 1')
@example("a = 1e999")
@example("a = -1e999")
@example("a = 123456789012345678901234567890123456789")
@example("a in (" + ",".join(["1"] * 1001) + ")")
@example("(" * 5000 + "a = 1" + ")" * 5000)
@example("not " * 5000 + "a = 1")
@example("a = 1 and " * 3000 + "a = 1")
def test_any_text_parses_or_is_unprocessable(db: psycopg.Connection[Any], text: str) -> None:
    run_filter(db, text)


# --- generated filters that do parse -------------------------------------------------------

keys = st.one_of(
    st.sampled_from(["plan", "country", "a.b", "x-y", "_k"]),
    st.sampled_from(INJECTIONS),
    st.text(min_size=1, max_size=20),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.sampled_from(INJECTIONS),
    st.text(max_size=20),
)


def _quote(s: str) -> str:
    return json.dumps(s)


def _value_text(v: Any) -> str:
    return json.dumps(v)


def exprs() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.builds(lambda k, v: f"{_quote(k)} = {_value_text(v)}", keys, values),
        st.builds(
            lambda k, vs: f"{_quote(k)} in ({', '.join(_value_text(v) for v in vs)})",
            keys, st.lists(values, min_size=1, max_size=5),
        ),
        st.builds(lambda k: f"exists {_quote(k)}", keys),
    )  # fmt: skip
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
            st.builds(lambda a, b: f"{a} or {b}", inner, inner),
            st.builds(lambda a: f"not {a}", inner),
        ),
        max_leaves=12,
    )


@FUZZ
@given(exprs())
def test_generated_text_filters_run_in_postgresql(db: psycopg.Connection[Any], text: str) -> None:
    run_filter(db, text)


json_filters = st.recursive(
    st.one_of(
        st.builds(lambda k, v: {"eq": [k, v]}, keys, values),
        st.builds(lambda k, vs: {"in": [k, vs]}, keys, st.lists(values, min_size=1, max_size=4)),
        st.builds(lambda k: {"exists": k}, keys),
    ),
    lambda inner: st.one_of(
        st.builds(lambda cs: {"and": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"or": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=10,
)


@FUZZ
@given(json_filters)
@example({"eq": ["a", float("inf")]})
@example({"eq": ["a\x00", 1]})
@example({"eq": ["a", "\x00"]})
@example({"eq": ["a", "\ud800"]})
def test_generated_json_filters_run_in_postgresql(
    db: psycopg.Connection[Any], value: dict[str, Any]
) -> None:
    run_filter(db, value)


@FUZZ
@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["and", "or", "not", "eq", "in",
                                                             "exists", "x"]), inner, max_size=2)),
    max_leaves=10,
))  # fmt: skip
def test_any_json_parses_or_is_unprocessable(db: psycopg.Connection[Any], value: Any) -> None:
    run_filter(db, value)


@pytest.mark.parametrize(
    "value",
    ['a = "\\q"', 'a = "\\u12"', 'a = "\\ud800"', 'a = "\\u0000"', '"\\u0000" = 1',
     "a = 1e999", {"eq": ["a", float("inf")]}, {"eq": ["a", "\x00"]}, {"eq": ["a", "\ud800"]}],
)  # fmt: skip
def test_bad_escapes_nul_surrogates_and_infinity_are_unprocessable(
    db: psycopg.Connection[Any], value: Any
) -> None:
    with pytest.raises(Unprocessable):
        parse_filter(value)


# --- injection strings are data ------------------------------------------------------------


def test_injection_strings_in_keys_and_values_match_literally(
    db: psycopg.Connection[Any],
) -> None:
    tag = uuid.uuid4().hex[:8]
    sender = db.execute(
        "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
        " VALUES (%s, 'f', 'https://l.example', 'b.example') RETURNING id",
        (f"fuzz-{tag}@example.com",),
    ).fetchone()["id"]
    ids = {}
    for i, s in enumerate(INJECTIONS):
        row = db.execute(
            "INSERT INTO subscribers (sender_id, address, properties) VALUES (%s, %s, %s)"
            " RETURNING id",
            (sender, f"s{i}-{tag}@example.org", Jsonb({s: s, "k": s})),
        ).fetchone()
        ids[s] = row["id"]
    try:
        count = db.execute("SELECT count(*) AS n FROM subscribers").fetchone()["n"]
        for s in INJECTIONS:
            for text in (f"k = {_quote(s)}", f"{_quote(s)} = {_quote(s)}", f"exists {_quote(s)}",
                         f"k in ({_quote(s)}, \"nothing\")"):  # fmt: skip
                f = parse_filter(text)
                assert f is not None
                query = sql.SQL(
                    "SELECT id FROM subscribers WHERE sender_id = %(sender)s AND {}"
                ).format(compile_filter(f))
                got = [r["id"] for r in db.execute(query, {"sender": sender}).fetchall()]
                assert got == [ids[s]], (text, got)
        after = db.execute("SELECT count(*) AS n FROM subscribers").fetchone()["n"]
        assert after == count, "nothing was dropped or added by a filter"
    finally:
        db.rollback()
