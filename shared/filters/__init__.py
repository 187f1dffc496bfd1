"""The safe property filter language used to pick a campaign's audience.

A filter is a small tree of comparisons over a subscriber's ``properties`` (a jsonb object).
It has a text form for people and an equivalent JSON form for programs::

    plan = "pro" and (country in ("TR", "DE") or not exists age) and score = 3

    {"and": [{"eq": ["plan", "pro"]},
             {"or": [{"in": ["country", ["TR", "DE"]]}, {"not": {"exists": "age"}}]},
             {"eq": ["score", 3]}]}

``parse_filter`` accepts either and returns the tree; ``compile_filter`` turns it into one boolean
SQL expression in which every value is adapted by psycopg (never spliced in as text), using jsonb
containment (``@>``) so the GIN ``jsonb_path_ops`` index on ``subscribers.properties`` helps.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.errors import Unprocessable

Scalar = str | int | float | bool | None

PROPERTIES = sql.SQL("properties")
MAX_DEPTH = 16
MAX_NODES = 256
MAX_IN_VALUES = 1000
MAX_KEY_LENGTH = 200
MAX_TEXT_LENGTH = 20_000


@dataclass(frozen=True)
class Eq:
    key: str
    value: Scalar


@dataclass(frozen=True)
class In:
    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Exists:
    key: str


@dataclass(frozen=True)
class Not:
    child: Filter


@dataclass(frozen=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Filter, ...]


Filter = Eq | In | Exists | Not | And | Or


def parse_filter(value: str | dict[str, Any] | None) -> Filter | None:
    """Parse the text or JSON form. ``None`` or blank text means "no filter".

    Raises:
      Unprocessable: with the position (text) or path (JSON) of the first error.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        if len(value) > MAX_TEXT_LENGTH:
            raise Unprocessable(f"filter: longer than {MAX_TEXT_LENGTH} characters")
        result = _Parser(value).parse()
    elif isinstance(value, dict):
        result = _from_json(value, "filter", 0)
    else:
        raise Unprocessable("filter: must be a string or an object")
    _check_size(result)
    return result


def to_json(f: Filter) -> dict[str, Any]:
    """The JSON form of a filter (what ``campaigns.filter`` stores)."""
    if isinstance(f, Eq):
        return {"eq": [f.key, f.value]}
    if isinstance(f, In):
        return {"in": [f.key, list(f.values)]}
    if isinstance(f, Exists):
        return {"exists": f.key}
    if isinstance(f, Not):
        return {"not": to_json(f.child)}
    if isinstance(f, And):
        return {"and": [to_json(c) for c in f.children]}
    return {"or": [to_json(c) for c in f.children]}


def compile_filter(f: Filter, column: sql.Composable = PROPERTIES) -> sql.Composed:
    """A boolean SQL expression over the jsonb ``column``. Values are psycopg-adapted literals."""
    if isinstance(f, Eq):
        return sql.SQL("({} @> {})").format(column, _jsonb({f.key: f.value}))
    if isinstance(f, In):
        parts = [sql.SQL("{} @> {}").format(column, _jsonb({f.key: v})) for v in f.values]
        return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
    if isinstance(f, Exists):
        return sql.SQL("({} ? ({} ->> 0))").format(column, _jsonb([f.key]))
    if isinstance(f, Not):
        return sql.SQL("(NOT {})").format(compile_filter(f.child, column))
    if isinstance(f, And):
        merged, rest = _merge_equalities(f.children)
        parts = [compile_filter(c, column) for c in rest]
        if merged:
            parts.insert(0, sql.SQL("{} @> {}").format(column, _jsonb(merged)))
        return sql.SQL("({})").format(sql.SQL(" AND ").join(parts))
    return sql.SQL("({})").format(
        sql.SQL(" OR ").join(compile_filter(c, column) for c in f.children)
    )


def required_pairs(f: Filter | None) -> dict[str, str | bool]:
    """The string and boolean equalities every row the filter selects must have: a top-level
    equality, or one inside top-level conjunctions. ``plan = "pro" and (a or b)`` requires
    ``{"plan": "pro"}``; an equality under ``or`` or ``not`` requires nothing. The list skips
    rows by these (shared/subscribers/bits.py); numbers are left out, as there."""
    if isinstance(f, Eq) and isinstance(f.value, str | bool):
        return {f.key: f.value}
    if isinstance(f, And):
        pairs: dict[str, str | bool] = {}
        for child in f.children:
            for key, value in required_pairs(child).items():
                pairs.setdefault(key, value)  # "a = 1 and a = 2" matches nothing either way
        return pairs
    return {}


def _merge_equalities(children: tuple[Filter, ...]) -> tuple[dict[str, Scalar], list[Filter]]:
    """The equalities of a conjunction as one containment object, and the other children.

    ``a = 1 and b = 2`` is ``@> {"a": 1, "b": 2}``: one containment test per row instead of one
    per equality, and a filtered list that walks many rows pays it on every row. A key compared
    twice stays apart, since one object cannot hold it twice."""
    counts: dict[str, int] = {}
    for c in children:
        if isinstance(c, Eq):
            counts[c.key] = counts.get(c.key, 0) + 1
    merged = {c.key: c.value for c in children if isinstance(c, Eq) and counts[c.key] == 1}
    rest = [c for c in children if not (isinstance(c, Eq) and counts[c.key] == 1)]
    return merged, rest


def _dumps(obj: Any) -> str:
    # "%" only occurs inside JSON strings, where "\u0025" means the same character. Without it
    # the literal would read as a placeholder once the expression joins a query with parameters.
    return json.dumps(obj, ensure_ascii=False).replace("%", "\\u0025")


def _jsonb(obj: Any) -> sql.Literal:
    """A jsonb literal adapted by psycopg (quoted and escaped by it, never formatted by us)."""
    return sql.Literal(Jsonb(obj, dumps=_dumps))


def _check_size(f: Filter) -> None:
    count = 0
    stack: list[tuple[Filter, int]] = [(f, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1 + (len(node.values) if isinstance(node, In) else 0)
        if depth > MAX_DEPTH:
            raise Unprocessable(f"filter: nested deeper than {MAX_DEPTH} levels")
        if count > MAX_NODES + MAX_IN_VALUES:
            raise Unprocessable("filter: too many terms")
        if isinstance(node, Not):
            stack.append((node.child, depth + 1))
        elif isinstance(node, And | Or):
            stack.extend((c, depth + 1) for c in node.children)


def _check_text(text: str, where: str) -> str:
    """jsonb refuses NUL, and the driver cannot encode a lone surrogate: refuse both here, with a
    client error, rather than let PostgreSQL fail the query."""
    if "\x00" in text:
        raise Unprocessable(f"{where}: NUL characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable(f"{where}: invalid Unicode (a lone surrogate)") from None
    return text


def _check_key(key: object, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise Unprocessable(f"{where}: a property name must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(f"{where}: property name longer than {MAX_KEY_LENGTH} characters")
    return _check_text(key, where)


def _check_scalar(value: object, where: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):  # NaN and Infinity are not JSON
        raise Unprocessable(f"{where}: {value} is not a JSON number")
    if isinstance(value, str):
        return _check_text(value, where)
    if value is None or isinstance(value, bool | int | float):
        return value
    raise Unprocessable(f"{where}: a value must be a string, number, true, false or null")


def _json_token(text: str, where: str) -> Any:
    """Decode a string or number token; the lexer's shape check lets some bad escapes through."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise Unprocessable(
            f"{where}: {error.args[0] if error.args else 'invalid literal'}"
        ) from None


def _from_json(node: object, where: str, depth: int) -> Filter:
    if depth >= MAX_DEPTH:
        raise Unprocessable(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        raise Unprocessable(f"{where}: expected an object with one of and, or, not, eq, in, exists")
    ((op, arg),) = node.items()
    at = f"{where}.{op}"
    if op in ("and", "or"):
        if not isinstance(arg, list) or not arg:
            raise Unprocessable(f"{at}: expected a non-empty list")
        if len(arg) > MAX_NODES:
            raise Unprocessable(f"{at}: too many terms")
        children = tuple(_from_json(c, f"{at}[{i}]", depth + 1) for i, c in enumerate(arg))
        return And(children) if op == "and" else Or(children)
    if op == "not":
        return Not(_from_json(arg, at, depth + 1))
    if op == "exists":
        return Exists(_check_key(arg, at))
    if op == "eq":
        if not isinstance(arg, list) or len(arg) != 2:
            raise Unprocessable(f"{at}: expected [property, value]")
        return Eq(_check_key(arg[0], at), _check_scalar(arg[1], at))
    if op == "in":
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[1], list):
            raise Unprocessable(f"{at}: expected [property, [values...]]")
        if not arg[1] or len(arg[1]) > MAX_IN_VALUES:
            raise Unprocessable(f"{at}: expected 1 to {MAX_IN_VALUES} values")
        return In(_check_key(arg[0], at), tuple(_check_scalar(v, at) for v in arg[1]))
    raise Unprocessable(f"{where}: unknown operator {op!r}")


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\\x00-\x1f]|\\.)*")
    | (?P<num>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    | (?P<op>[=(),])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "exists", "true", "false", "null"}


@dataclass
class _Tok:
    kind: str  # str, num, word, op, end
    text: str
    pos: int


class _Parser:
    """Recursive descent: or_expr := and_expr ("or" and_expr)*;
    and_expr := unary ("and" unary)*; unary := "not" unary | primary;
    primary := "(" or_expr ")" | "exists" key | key "=" value | key "in" "(" value, ... ")"."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._lex(text)
        self.i = 0
        self.depth = 0

    def _lex(self, text: str) -> list[_Tok]:
        tokens: list[_Tok] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                start = len(text) - len(text[pos:].lstrip())
                raise Unprocessable(f"filter: unexpected character at position {start + 1}")
            kind = m.lastgroup
            tokens.append(_Tok(kind, m.group(kind), m.start(kind)))
            pos = m.end()
        tokens.append(_Tok("end", "", len(text)))
        return tokens

    def _fail(self, tok: _Tok, expected: str) -> Unprocessable:
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return Unprocessable(
            f"filter: expected {expected} at position {tok.pos + 1}, found {found}"
        )

    def _peek(self) -> _Tok:
        return self.tokens[self.i]

    def _next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is_word(self, tok: _Tok, word: str) -> bool:
        return tok.kind == "word" and tok.text.lower() == word

    def parse(self) -> Filter:
        result = self._or()
        if self._peek().kind != "end":
            raise self._fail(self._peek(), '"and", "or" or the end')
        return result

    def _or(self) -> Filter:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unprocessable(f"filter: nested deeper than {MAX_DEPTH} levels")
        children = [self._and()]
        while self._is_word(self._peek(), "or"):
            self._next()
            children.append(self._and())
        self.depth -= 1
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self) -> Filter:
        children = [self._unary()]
        while self._is_word(self._peek(), "and"):
            self._next()
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _unary(self) -> Filter:
        if self._is_word(self._peek(), "not"):
            self._next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise Unprocessable(f"filter: nested deeper than {MAX_DEPTH} levels")
            child = self._unary()
            self.depth -= 1
            return Not(child)
        return self._primary()

    def _primary(self) -> Filter:
        tok = self._peek()
        if tok.kind == "op" and tok.text == "(":
            self._next()
            inner = self._or()
            close = self._next()
            if close.text != ")" or close.kind != "op":
                raise self._fail(close, '")"')
            return inner
        if self._is_word(tok, "exists"):
            self._next()
            return Exists(self._key())
        key = self._key()
        op = self._next()
        if op.kind == "op" and op.text == "=":
            return Eq(key, self._value())
        if self._is_word(op, "in"):
            open_ = self._next()
            if open_.kind != "op" or open_.text != "(":
                raise self._fail(open_, '"("')
            values = [self._value()]
            while self._peek().kind == "op" and self._peek().text == ",":
                self._next()
                values.append(self._value())
                if len(values) > MAX_IN_VALUES:
                    raise Unprocessable(f"filter: more than {MAX_IN_VALUES} values in a list")
            close = self._next()
            if close.kind != "op" or close.text != ")":
                raise self._fail(close, '"," or ")"')
            return In(key, tuple(values))
        raise self._fail(op, '"=" or "in"')

    def _key(self) -> str:
        tok = self._next()
        if tok.kind == "str":
            key = _json_token(tok.text, f"filter: position {tok.pos + 1}")
        elif tok.kind == "word" and tok.text.lower() not in _KEYWORDS:
            key = tok.text
        else:
            raise self._fail(tok, "a property name")
        return _check_key(key, f"filter: position {tok.pos + 1}")

    def _value(self) -> Scalar:
        tok = self._next()
        where = f"filter: position {tok.pos + 1}"
        if tok.kind in ("str", "num"):
            return _check_scalar(_json_token(tok.text, where), where)
        if tok.kind == "word" and tok.text in ("true", "false", "null"):
            literal: Scalar = json.loads(tok.text)
            return literal
        raise self._fail(tok, "a value (string, number, true, false or null)")
