"""The text form of the filter language, read by a recursive-descent parser.

Errors name the position (1-based) and what was expected there."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import Unprocessable
from shared.filters.model import (
    COMPARISONS,
    MAX_DEPTH,
    MAX_IN_VALUES,
    And,
    Between,
    Bound,
    Clicked,
    ClickedWithin,
    Compare,
    Contains,
    Eq,
    Exists,
    Filter,
    In,
    InSegment,
    Key,
    NeverOpened,
    Not,
    Opened,
    OpenedWithin,
    Or,
    Received,
    Scalar,
    check_bound,
    check_days,
    check_equality,
    check_field,
    check_id,
    check_link,
    check_name,
    check_path,
    check_scalar,
)

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\\x00-\x1f]|\\.)*")
    | (?P<num>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
    | (?P<word>@?[A-Za-z_][A-Za-z0-9_.\-]*)
    | (?P<op><=|>=|[=(),<>])
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "exists", "true", "false", "null", "between", "contains"}
_ENGAGEMENT = {"received", "opened", "clicked"}
_EXPECTED_OPERATOR = '"=", "<", "<=", ">", ">=", "in", "between" or "contains"'


@dataclass
class _Tok:
    kind: str  # str, num, word, op, end
    text: str
    pos: int


def json_token(text: str, where: str) -> object:
    """Decode a string or number token; the lexer's shape check lets some bad escapes through."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise Unprocessable(
            f"{where}: {error.args[0] if error.args else 'invalid literal'}"
        ) from None


class Parser:
    """Recursive descent::

    or_expr   := and_expr ("or" and_expr)*
    and_expr  := unary ("and" unary)*
    unary     := "not" unary | primary
    primary   := "(" or_expr ")" | "exists" key | "segment" id | engagement
               | key "=" value | key ("<" | "<=" | ">" | ">=") bound
               | key "between" bound "and" bound | key "contains" value
               | key "in" "(" value ("," value)* ")"
    engagement:= ("received" | "opened") "email" id
               | "clicked" "email" id ["link" n]
               | ("opened" | "clicked") "within" n ("days" | "day")
               | "never" "opened"
    key       := name | name.name... (a nested path) | "quoted name" | @field
    """

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

    def _peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def _next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def _is_word(self, tok: _Tok, *words: str) -> bool:
        return tok.kind == "word" and tok.text.lower() in words

    def _expect_word(self, *words: str) -> _Tok:
        tok = self._next()
        if not self._is_word(tok, *words):
            raise self._fail(tok, " or ".join(f'"{w}"' for w in words))
        return tok

    def _expect_op(self, op: str) -> None:
        tok = self._next()
        if tok.kind != "op" or tok.text != op:
            raise self._fail(tok, f'"{op}"')

    def parse(self) -> Filter:
        result = self._or()
        if self._peek().kind != "end":
            raise self._fail(self._peek(), '"and", "or" or the end')
        return result

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unprocessable(f"filter: nested deeper than {MAX_DEPTH} levels")

    def _or(self) -> Filter:
        self._deeper()
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
            self._deeper()
            child = self._unary()
            self.depth -= 1
            return Not(child)
        return self._primary()

    def _primary(self) -> Filter:
        tok = self._peek()
        if tok.kind == "op" and tok.text == "(":
            self._next()
            inner = self._or()
            self._expect_op(")")
            return inner
        if self._is_word(tok, "exists"):
            self._next()
            at = self._peek()
            key = self._key()
            if not isinstance(key, str | tuple):
                raise self._fail(at, "a property name (exists does not apply to @fields)")
            return Exists(key)
        after = self._peek(1)
        # A word followed by a word or number is a predicate, never a property: a property name
        # is always followed by an operator, so "opened" and "segment" stay usable as names.
        if self._is_word(tok, "segment") and after.kind == "num":
            self._next()
            return InSegment(
                self._integer("a segment id", lambda v, w: check_id(v, w, "a segment id"))
            )
        if self._is_word(tok, "never") and after.kind == "word":
            self._next()
            self._expect_word("opened")
            return NeverOpened()
        if self._is_word(tok, *_ENGAGEMENT) and after.kind == "word":
            return self._engagement()
        return self._comparison()

    def _engagement(self) -> Filter:
        verb = self._next().text.lower()
        if verb == "received":
            self._expect_word("email")
            return Received(self._integer("an email id", check_id))
        which = self._expect_word("email", "within").text.lower()
        if which == "within":
            days = self._integer("a number of days", check_days)
            self._expect_word("days", "day")
            return OpenedWithin(days) if verb == "opened" else ClickedWithin(days)
        email_id = self._integer("an email id", check_id)
        if verb == "opened":
            return Opened(email_id)
        link = None
        if self._is_word(self._peek(), "link"):
            self._next()
            link = self._integer("a link number", check_link)
        return Clicked(email_id, link)

    def _integer(self, expected: str, check: Callable[[int, str], int]) -> int:
        tok = self._next()
        if tok.kind != "num" or not re.fullmatch(r"-?\d+", tok.text):
            raise self._fail(tok, expected)
        return check(int(tok.text), f"filter: position {tok.pos + 1}")

    def _comparison(self) -> Filter:
        key_tok = self._peek()
        key = self._key()
        op = self._next()
        where = f"filter: position {op.pos + 1}"
        if op.kind == "op" and op.text == "=":
            return Eq(key, check_equality(key, self._value(), where))
        if op.kind == "op" and op.text in COMPARISONS:
            return Compare(key, op.text, self._bound(key))
        if self._is_word(op, "between"):
            low = self._bound(key)
            self._expect_word("and")
            return Between(key, low, self._bound(key))
        if self._is_word(op, "contains"):
            if not isinstance(key, str | tuple):
                raise self._fail(key_tok, "a property name (contains does not apply to @fields)")
            return Contains(key, self._value())
        if self._is_word(op, "in"):
            self._expect_op("(")
            values = [check_equality(key, self._value(), where)]
            while self._peek().kind == "op" and self._peek().text == ",":
                self._next()
                values.append(check_equality(key, self._value(), where))
                if len(values) > MAX_IN_VALUES:
                    raise Unprocessable(f"filter: more than {MAX_IN_VALUES} values in a list")
            close = self._next()
            if close.kind != "op" or close.text != ")":
                raise self._fail(close, '"," or ")"')
            return In(key, tuple(values))
        raise self._fail(op, _EXPECTED_OPERATOR)

    def _key(self) -> Key:
        tok = self._next()
        where = f"filter: position {tok.pos + 1}"
        if tok.kind == "str":
            return check_name(json_token(tok.text, where), where)
        if tok.kind == "word" and tok.text.startswith("@"):
            return check_field(tok.text[1:], where)
        if tok.kind == "word" and tok.text.lower() not in KEYWORDS:
            names = tok.text.split(".")
            if "" in names:
                raise self._fail(tok, "a property name or a path such as address.city")
            return check_path(names, where)
        raise self._fail(tok, "a property name")

    def _value(self) -> Scalar:
        tok = self._next()
        where = f"filter: position {tok.pos + 1}"
        if tok.kind in ("str", "num"):
            return check_scalar(json_token(tok.text, where), where)
        if tok.kind == "word" and tok.text in ("true", "false", "null"):
            literal: Scalar = json.loads(tok.text)
            return literal
        raise self._fail(tok, "a value (string, number, true, false or null)")

    def _bound(self, key: Key) -> Bound:
        tok = self._next()
        where = f"filter: position {tok.pos + 1}"
        if tok.kind not in ("str", "num"):
            raise self._fail(tok, "a number or an ISO date/time string")
        return check_bound(key, json_token(tok.text, where), where)
