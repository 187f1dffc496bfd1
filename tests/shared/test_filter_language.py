"""The richer filter language against plain reference queries on random data (issue 17).

Each example builds a small random world (subscribers with properties, sends, human and machine
opens and clicks) inside a rolled-back transaction and checks that the compiled filter selects
exactly the rows a plain reference selects: Python over the generated values for properties and
subscriber columns, a plain SQL query over the raw events for engagement."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from shared.errors import Unprocessable
from shared.filters import compile_filter, parse_filter, to_json
from tests.conftest import unique_address

NOW = datetime.now(UTC).replace(microsecond=0)
CITIES = ["Paris", "Izmir", "50%s"]
TAGS = ["vip", "beta", "x'y"]
LOCALES = ["C", "de_DE", "tr_TR"]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
EXAMPLES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Person:
    props: dict[str, Any]
    when: datetime | None  # what the "d" property means, if it is a valid date
    locale: str
    created_at: datetime
    soft_bounces: int
    id: int = 0


@dataclass
class Event:
    email: int  # index into the world's emails
    kind: str
    machine: bool
    link: int
    days_ago: int


@dataclass
class Mail:
    email: int
    state: str
    bounced: bool
    events: list[Event] = field(default_factory=list)


def _date_value(moment: datetime, style: int) -> str:
    if style == 0:
        return moment.strftime("%Y-%m-%d")
    if style == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")


@st.composite
def people(draw: st.DrawFn) -> Person:
    props: dict[str, Any] = {}
    when = None
    n = draw(st.one_of(st.none(), st.integers(-5, 5), st.floats(-5, 5), st.sampled_from(["3"])))
    if n is not None:
        props["n"] = n
    style = draw(st.integers(0, 4))
    if style <= 2:
        day = draw(st.integers(0, 40))
        moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
            days=day, hours=draw(st.integers(0, 23))
        )
        if style == 0:
            moment = moment.replace(hour=0)
        props["d"] = _date_value(moment, style)
        when = moment
    elif style == 3:
        props["d"] = draw(st.sampled_from(["2023-02-30", "yesterday", "2024-13-01", "20240101"]))
    if draw(st.booleans()):
        props["address"] = {"city": draw(st.sampled_from(CITIES))}
    tags = draw(st.one_of(st.none(), st.lists(st.sampled_from(TAGS), max_size=3), st.just("vip")))
    if tags is not None:
        props["tags"] = tags
    return Person(
        props=props,
        when=when,
        locale=draw(st.sampled_from(LOCALES)),
        created_at=NOW - timedelta(days=draw(st.integers(0, 30)), hours=1),
        soft_bounces=draw(st.integers(0, 4)),
    )


events = st.builds(
    Event,
    email=st.integers(0, 2),
    kind=st.sampled_from(["open", "click", "view"]),
    machine=st.booleans(),
    link=st.integers(0, 2),
    days_ago=st.integers(0, 60),
)


@st.composite
def mailboxes(draw: st.DrawFn) -> list[Mail]:
    mails = []
    for email in range(3):
        if draw(st.booleans()):
            mail = Mail(email, draw(st.sampled_from(["sent", "sent", "queued", "failed"])),
                        draw(st.integers(0, 4)) == 0)  # fmt: skip
            if mail.state == "sent":
                mail.events = [
                    Event(email, e.kind, e.machine, e.link, e.days_ago)
                    for e in draw(st.lists(events, max_size=4))
                ]
            mails.append(mail)
    return mails


worlds = st.lists(st.tuples(people(), mailboxes()), min_size=1, max_size=10)


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(database, row_factory=psycopg.rows.dict_row) as connection:
        yield connection


class World:
    """One random world, written inside the caller's transaction."""

    def __init__(self, db: psycopg.Connection[Any], rows: list[tuple[Person, list[Mail]]]):
        self.db = db
        self.people = [p for p, _ in rows]
        self.sender = db.execute(
            "INSERT INTO senders (address, name, public_base_url, return_path_domain)"
            " VALUES (%s, 'w', 'https://w.example', 'w.example') RETURNING id",
            [unique_address("sender")],
        ).fetchone()["id"]
        self.emails = [
            db.execute(
                "INSERT INTO emails (sender_id, name, state) VALUES (%s, %s, 'sent') RETURNING id",
                [self.sender, f"e{i}"],
            ).fetchone()["id"]
            for i in range(3)
        ]
        for person, mails in rows:
            person.id = db.execute(
                "INSERT INTO subscribers (sender_id, address, locale, properties, created_at,"
                " soft_bounces) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                [self.sender, unique_address(), person.locale, Jsonb(person.props),
                 person.created_at, person.soft_bounces],
            ).fetchone()["id"]  # fmt: skip
            for mail in mails:
                self._send(person, mail)

    def _send(self, person: Person, mail: Mail) -> None:
        human = [e for e in mail.events if not e.machine]
        count = lambda kind, machine: sum(  # noqa: E731
            1 for e in mail.events if e.kind == kind and e.machine == machine
        )
        send_id = self.db.execute(
            "INSERT INTO sends (email_id, sender_id, subscriber_id, state, sent_at, bounced_at,"
            " open_count, click_count, view_count, machine_open_count, machine_click_count)"
            " VALUES (%s, %s, %s, %s, CASE WHEN %s = 'sent' THEN now() END,"
            " CASE WHEN %s THEN now() END, %s, %s, %s, %s, %s) RETURNING id",
            [self.emails[mail.email], self.sender, person.id, mail.state, mail.state,
             mail.bounced, count("open", False), count("click", False), count("view", False),
             count("open", True), count("click", True)],
        ).fetchone()["id"]  # fmt: skip
        assert human is not None
        for e in mail.events:
            self.db.execute(
                "INSERT INTO send_events (send_id, email_id, subscriber_id, kind, at, machine,"
                " link_index) VALUES (%s, %s, %s, %s,"
                " now() - make_interval(days => %s, hours => 1), %s, %s)",
                [send_id, self.emails[mail.email], person.id, e.kind, e.days_ago, e.machine,
                 e.link if e.kind == "click" else None],
            )  # fmt: skip

    def select(self, text: str) -> set[int]:
        f = parse_filter(text)
        assert f is not None
        assert parse_filter(to_json(f)) == f, "the JSON form means the same filter"
        query = sql.SQL("SELECT id FROM subscribers s WHERE sender_id = %(sender)s AND {}").format(
            compile_filter(f, "s")
        )
        return {r["id"] for r in self.db.execute(query, {"sender": self.sender}).fetchall()}

    def reference(self, query: str, **params: Any) -> set[int]:
        """Subscribers of this world that a plain query over the raw rows returns."""
        rows = self.db.execute(query, {"sender": self.sender, **params}).fetchall()
        return {r["id"] for r in rows}

    def where(self, test: Callable[[Person], bool]) -> set[int]:
        return {p.id for p in self.people if test(p)}


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@given(worlds, st.sampled_from(list(OPS)), st.integers(-4, 4), st.integers(-4, 4))
@EXAMPLES
def test_number_comparisons_and_between(db: Any, rows: Any, op: str, a: int, b: int) -> None:
    with db.transaction(force_rollback=True):
        w = World(db, rows)
        n = lambda p: _number(p.props.get("n"))  # noqa: E731
        assert w.select(f"n {op} {a}") == w.where(lambda p: n(p) is not None and OPS[op](n(p), a))
        assert w.select(f"n {op} {a + 0.5}") == w.where(
            lambda p: n(p) is not None and OPS[op](n(p), a + 0.5)
        )
        assert w.select(f"n between {a} and {b}") == w.where(
            lambda p: n(p) is not None and a <= n(p) <= b
        )
        assert w.select(f"@soft_bounces {op} {a}") == w.where(lambda p: OPS[op](p.soft_bounces, a))


@given(worlds, st.sampled_from(list(OPS)), st.integers(0, 40), st.integers(0, 2))
@EXAMPLES
def test_date_comparisons(db: Any, rows: Any, op: str, day: int, style: int) -> None:
    bound = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=5 * style)
    literal = _date_value(bound, style)
    if style == 0:
        bound = bound.replace(hour=0)
    with db.transaction(force_rollback=True):
        w = World(db, rows)
        assert w.select(f'd {op} "{literal}"') == w.where(
            lambda p: p.when is not None and OPS[op](p.when, bound)
        )
        upper = bound + timedelta(days=3)
        assert w.select(f'd between "{literal}" and "{upper.isoformat()}"') == w.where(
            lambda p: p.when is not None and bound <= p.when <= upper
        )
        since = NOW - timedelta(days=day % 30)
        assert w.select(f'@created_at {op} "{since.isoformat()}"') == w.where(
            lambda p: OPS[op](p.created_at, since)
        )
        assert w.select(f'@state_changed_at <= "{NOW.isoformat()}"') == w.where(lambda p: False)


@given(worlds, st.sampled_from(CITIES), st.sampled_from(TAGS), st.sampled_from(LOCALES))
@EXAMPLES
def test_paths_arrays_and_locale(db: Any, rows: Any, city: str, tag: str, locale: str) -> None:
    def quoted(s: str) -> str:
        return '"' + s + '"'

    with db.transaction(force_rollback=True):
        w = World(db, rows)
        city_of = lambda p: p.props.get("address", {}).get("city")  # noqa: E731
        assert w.select(f"address.city = {quoted(city)}") == w.where(lambda p: city_of(p) == city)
        assert w.select("exists address.city") == w.where(lambda p: city_of(p) is not None)
        assert w.select(f"tags contains {quoted(tag)}") == w.where(
            lambda p: isinstance(p.props.get("tags"), list) and tag in p.props["tags"]
        )
        assert w.select(f"@locale = {quoted(locale)}") == w.where(lambda p: p.locale == locale)
        assert w.select(f'@locale in ({quoted(locale)}, "de_DE")') == w.where(
            lambda p: p.locale in (locale, "de_DE")
        )


HUMAN = "NOT machine AND kind IN ('open', 'click')"


@given(worlds, st.integers(0, 2), st.integers(0, 2), st.integers(1, 60))
@EXAMPLES
def test_engagement_predicates(db: Any, rows: Any, email: int, link: int, days: int) -> None:
    with db.transaction(force_rollback=True):
        w = World(db, rows)
        e = w.emails[email]
        mine = "subscriber_id IN (SELECT id FROM subscribers WHERE sender_id = %(sender)s)"
        ref = lambda where, **kw: w.reference(  # noqa: E731
            f"SELECT DISTINCT subscriber_id AS id FROM send_events WHERE {mine} AND {where}", **kw
        )
        assert w.select(f"received email {e}") == w.reference(
            f"SELECT subscriber_id AS id FROM sends WHERE {mine} AND email_id = %(e)s"
            " AND state = 'sent' AND bounced_at IS NULL",
            e=e,
        )
        assert w.select(f"opened email {e}") == ref(f"email_id = %(e)s AND {HUMAN}", e=e)
        assert w.select(f"clicked email {e}") == ref(
            "email_id = %(e)s AND NOT machine AND kind = 'click'", e=e
        )
        assert w.select(f"clicked email {e} link {link}") == ref(
            "email_id = %(e)s AND NOT machine AND kind = 'click' AND link_index = %(l)s",
            e=e,
            l=link,
        )
        recent = "at >= now() - make_interval(days => %(d)s)"
        assert w.select(f"opened within {days} days") == ref(f"{HUMAN} AND {recent}", d=days)
        assert w.select(f"clicked within {days} days") == ref(
            f"NOT machine AND kind = 'click' AND {recent}", d=days
        )
        everyone = w.where(lambda p: True)
        assert w.select("never opened") == everyone - ref(HUMAN)
        # what the benchmark counts: all three kinds combined
        text = f'opened email {e} and not clicked within {days} days and not @locale = "de_DE"'
        expected = (ref(f"email_id = %(e)s AND {HUMAN}", e=e)
                    - ref(f"NOT machine AND kind = 'click' AND {recent}", d=days)
                    - w.where(lambda p: p.locale == "de_DE"))  # fmt: skip
        assert w.select(text) == expected


def test_a_machine_only_open_is_not_engagement(db: Any) -> None:
    machine = Mail(0, "sent", False, [Event(0, "open", True, 0, 1), Event(0, "click", True, 1, 1)])
    human = Mail(0, "sent", False, [Event(0, "open", False, 0, 1)])
    rows = [(Person({}, None, "C", NOW, 0), [machine]), (Person({}, None, "C", NOW, 0), [human])]
    with db.transaction(force_rollback=True):
        w = World(db, rows)
        bot, person = w.people
        e = w.emails[0]
        assert w.select(f"received email {e}") == {bot.id, person.id}
        assert w.select(f"opened email {e}") == {person.id}
        assert w.select(f"clicked email {e}") == set()
        assert w.select("opened within 30 days") == {person.id}
        assert w.select("never opened") == {bot.id}


@pytest.mark.parametrize(
    "text,message",
    [
        ("n < ", "a number or an ISO date.*position 5"),
        ('n > "soon"', "position 5.*ISO date"),
        ("n between 1 2", 'expected "and" at position 13'),
        ("opened email x", "an email id at position 14"),
        ("opened within 3 weeks", '"days" or "day" at position 17'),
        ("clicked email 3 link -1", "position 22.*link number"),
        ("@nope = 1", "unknown subscriber field @nope"),
        ('@locale > "de"', "only be compared with = or in"),
        ("@created_at = 3", "compare @created_at with"),
        ("exists @locale", "exists does not apply"),
        ("a..b = 1", "path such as address.city"),
        ("n ~ 1", "unexpected character at position 3"),
        ("n 1", '"in", "between" or "contains" at position 3'),
        ("segment 0", "a segment id"),
        ("opened email 0", "an email id"),
        ("opened within 0 days", "number of days"),
    ],
)
def test_errors_say_where_and_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        parse_filter(text)


@pytest.mark.parametrize(
    "value",
    [
        {"lt": ["n", "soon"]},
        {"between": ["n", 1]},
        {"contains": ["@locale", "x"]},
        {"clicked": [3]},
        {"opened_within": -1},
        {"never_opened": False},
        {"eq": [[], 1]},
        {"segment": "1"},
    ],
)
def test_bad_json_of_the_new_operators_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(Unprocessable):
        parse_filter(value)


def test_names_that_look_like_predicates_stay_properties() -> None:
    assert to_json(parse_filter('opened = true and segment = "a"')) == {  # type: ignore[arg-type]
        "and": [{"eq": ["opened", True]}, {"eq": ["segment", "a"]}]
    }
    assert to_json(parse_filter("segment 4 and never opened")) == {  # type: ignore[arg-type]
        "and": [{"segment": 4}, {"never_opened": True}]
    }
