"""The Jinja2 sandbox for message templates, with bounds on what a template may build.

Jinja's own sandbox stops attribute escapes but not resource bombs: ``'a' * 10**9``,
``|center(10**9)`` or two nested ``range(10**5)`` loops ask for gigabytes or hours. Here every
operation that can build something big checks the size BEFORE building it (``MAX_ITEMS``
characters or items per value), and each render has a budget: ``MAX_BUILT`` characters built
in total, ``MAX_STEPS`` loop iterations in total and ``MAX_OUTPUT`` characters of output. With
those, the worst template does about ``MAX_STEPS`` iterations of bounded work: well under a
second and a few tens of megabytes. Anything over a bound raises ``SecurityError``, which
validation turns into Unprocessable and the renderer into a render failure.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from itertools import islice
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import (
    do_center,
    do_format,
    do_indent,
    do_join,
    do_pprint,
    do_replace,
    do_sum,
    do_truncate,
    do_wordwrap,
)
from jinja2.runtime import markup_join, new_context, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer

MAX_ITEMS = 100_000  # characters (or items) in one value a template builds
MAX_RANGE = 10_000  # items in one range()
MAX_STEPS = 100_000  # loop iterations per render (range(10_000) nested twice is 10**8)
MAX_BUILT = 10_000_000  # characters built per render by operators and filters
MAX_OUTPUT = 5_000_000  # characters of output per render
MAX_EXPONENT_BITS = 100_000  # ``**`` on integers: result bits
_PARTS_AT_ONCE = 32


# A printf conversion: %[(key)][flags][width][.precision][length]type
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


class _Budget:
    """What one render may still spend."""

    __slots__ = ("built", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.built = MAX_BUILT


# Set for the duration of one render by BoundedTemplate; unset at compile time, where constant
# folding calls filters and only the per-value bound applies.
_budget: ContextVar[_Budget | None] = ContextVar("tart_template_budget", default=None)


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"{what} is too big for a template (the limit is {MAX_ITEMS:,})")


def _charge(size: int, what: str) -> None:
    """Refuse a value of ``size`` before it is built; count it against the render's budget."""
    if size > MAX_ITEMS:
        raise _refuse(what)
    budget = _budget.get()
    if budget is not None:
        budget.built -= size
        if budget.built < 0:
            raise SecurityError(f"the template builds more than {MAX_BUILT:,} characters")


def _size(value: Any, limit: int = MAX_ITEMS + 1) -> int:
    """About how many characters ``str(value)`` has, stopping early past ``limit``."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 2
    if isinstance(value, float):
        return 25
    if isinstance(value, Mapping):
        total = 2
        for key, item in value.items():
            total += _size(key, limit) + _size(item, limit) + 4
            if total > limit:
                break
        return total
    if isinstance(value, list | tuple | set | frozenset):
        total = 2
        for item in value:
            total += _size(item, limit) + 2
            if total > limit:
                break
        return total
    return 100  # other objects (Undefined, loop, cycler...) print a short text


def _steps(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.steps -= 1
            if budget.steps < 0:
                raise SecurityError(f"the template loops more than {MAX_STEPS:,} times")
        yield item


@pass_context
def _steps_filter(context: Any, iterable: Iterable[Any]) -> Iterator[Any]:
    # pass_context keeps the optimizer from folding it (a generator is no constant).
    return _steps(iterable)


@pass_eval_context
def _concat_filter(eval_ctx: Any, items: list[Any]) -> str:
    """``a ~ b``, sized before joining (Jinja's own Concat cannot be intercepted)."""
    _charge(sum(_size(item) for item in items), "a ~ concatenation")
    return markup_join(items) if eval_ctx.autoescape else str_join(items)


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE:,} items")
    return rng


def _widest(numbers: Iterable[str]) -> int:
    """The largest width or precision, refused past MAX_ITEMS (read without int() on huge text)."""
    widest = 0
    for number in numbers:
        if len(number) > 7 or int(number) > MAX_ITEMS:
            raise _refuse("a format width")
        widest = max(widest, int(number))
    return widest


def _printf_size(fmt: str, args: Any) -> int:
    """An upper bound of ``fmt % args``."""
    fields = _PRINTF_FIELD.findall(fmt)
    if any("*" in width + precision for width, precision in fields):
        raise SecurityError("'*' widths are not allowed in a template format")
    widest = _widest(number for field in fields for number in field if number)
    values = args.values() if isinstance(args, Mapping) else args
    values = values if isinstance(values, tuple | list) else [values]
    longest = max((_size(value) for value in values), default=0)
    return len(fmt) + len(fields) * (widest + longest)


def _str_format_size(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    total, longest = len(fmt), 0
    for value in [*args, *kwargs.values()]:
        longest = max(longest, _size(value))
    for _text, name, spec, _conversion in string.Formatter().parse(fmt):
        if name is None:
            continue
        if "." in name or "[" in name or "{" in (spec or ""):
            raise SecurityError("only plain {name} fields are allowed in a template format")
        total += _widest(_DIGITS.findall(spec or "")) + longest
    return total


def _check_str_method(method: str, text: str, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    """Size a str method call that can build a big string, before it runs."""
    if method in ("center", "ljust", "rjust", "zfill") and args:
        _charge(max(len(text), args[0] if isinstance(args[0], int) else 0), f"str.{method}")
    elif method == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else kw.get("tabsize", 8)
        _charge(len(text) * max(1, tab if isinstance(tab, int) else 8), "str.expandtabs")
    elif method == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = text.count(old) if old else len(text) + 1
        _charge(len(text) + count * len(new), "str.replace")
    elif method in ("format", "format_map"):
        mapping = args[0] if method == "format_map" and args else kw
        positional = args if method == "format" else ()
        _charge(_str_format_size(text, positional, mapping), f"str.{method}")


def _sequence_product(left: Any, right: Any) -> int | None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
            return len(seq) * max(times, 0)
    return None


def _center(value: str, width: int = 80) -> str:
    _charge(max(len(str(value)), width), "center()")
    return do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = width if isinstance(width, str) else " " * min(max(width, 0), MAX_ITEMS + 1)
    _charge(len(text) + (text.count("\n") + 1) * len(pad), "indent()")
    return do_indent(s, width, first, blank)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _charge(_printf_size(str(value), kwargs or args), "format()")
    return do_format(value, *args, **kwargs)


@pass_environment
def _wordwrap(env: Any, s: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
    # Wrapping adds at most a line break per word; a width past the text is the text itself.
    _charge(len(str(s)) * 2, "wordwrap()")
    return do_wordwrap(env, s, min(width, MAX_ITEMS), *args, **kwargs)


@pass_environment
def _truncate(env: Any, s: str, length: int = 255, *args: Any, **kwargs: Any) -> str:
    return do_truncate(env, s, min(length, MAX_ITEMS + 1), *args, **kwargs)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(_steps(value))
    if attribute is None:
        _charge(sum(_size(item) for item in items) + len(items) * len(str(d)), "join()")
    result: str = do_join(eval_ctx, items, d, attribute)
    _charge(len(result), "join()")
    return result


def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(s), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    _charge(len(text) + min(found, count if count is not None else found) * len(new), "replace()")
    return do_replace(eval_ctx, s, old, new, count)


_replace_filter = pass_eval_context(_replace)


@pass_context
def _sum(context: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    items = list(_steps(iterable))
    if not isinstance(start, int | float):
        _charge(_size(start) + sum(_size(item) for item in items), "sum()")
    return do_sum(context.environment, items, attribute, start)


def _string(value: Any) -> str:
    _charge(_size(value), "string()")
    return str(value)


def _pprint(value: Any) -> str:
    _charge(_size(value) * 2, "pprint()")
    return do_pprint(value)


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` value is sized before it is turned into text."""
    if not isinstance(value, str) and _size(value) > MAX_ITEMS:
        raise _refuse("a printed value")
    return value


class BoundedTemplate(Template):
    """Renders under a fresh budget and stops past MAX_OUTPUT characters of output."""

    _flat_globals: dict[str, Any] | None = None

    def render(self, *args: Any, **kwargs: Any) -> str:
        # Template.new_context walks the globals' ChainMap twice per render (a quarter of the
        # bench email's rendering); the environment's globals are fixed once built: flatten once.
        if self._flat_globals is None:
            self._flat_globals = dict(self.globals)
        ctx = new_context(
            self.environment, self.name, self.blocks, dict(*args, **kwargs), False,
            self._flat_globals, None,
        )  # fmt: skip
        token = _budget.set(_Budget())
        try:
            # A template yields a part per text run and per {{ }}: taken and sized a few dozen at
            # a time (a loop in C, where one Python step per part was a tenth of the rendering).
            # Each part is at most MAX_ITEMS long, so the output overshoots by a bounded amount.
            parts: list[str] = []
            size = 0
            rendering = self.root_render_func(ctx)
            while chunk := list(islice(rendering, _PARTS_AT_ONCE)):
                size += sum(map(len, chunk))
                if size > MAX_OUTPUT:
                    raise SecurityError(f"the output is longer than {MAX_OUTPUT:,} characters")
                parts += chunk
            return "".join(parts)
        except Exception:
            self.environment.handle_exception()
        finally:
            _budget.reset(token)


_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "wordwrap": _wordwrap,
    "truncate": _truncate,
    "join": _join,
    "replace": _replace_filter,
    "sum": _sum,
    "string": _string,
    "pprint": _pprint,
    # Names a template cannot write (not identifiers): only the rewritten AST uses them.
    "tart-steps": _steps_filter,
    "tart-concat": _concat_filter,
}


# Every name ``getattr(some_dict, name)`` can find (methods and dunders of dict and object).
_DICT_ATTRIBUTES = frozenset(dir(dict))


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, made loud and bounded: an unsafe attribute raises instead of rendering empty
    (as the lenient Undefined would), and anything too big raises SecurityError."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    template_class = BoundedTemplate

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.filters.update(_FILTERS)
        self.globals["range"] = _bounded_range

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``properties.first_name``: a plain dict has no attribute of that name, so Jinja's
        lookup (the attribute first, then the item) would raise and catch an AttributeError
        before finding the item, for every property a message prints. Go to the item directly
        when no attribute could answer; the result is the same."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            size = _sequence_product(left, right)
            if size is not None:
                _charge(size, "a * repetition")
        elif operator == "**":
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and abs(left) > 1 and left.bit_length() * right > MAX_EXPONENT_BITS:
                raise _refuse("a ** power")
        elif operator == "+":
            sized = (str, bytes, list, tuple)
            if isinstance(left, sized) and isinstance(right, sized):
                _charge(len(left) + len(right), "a + concatenation")
        elif operator == "%" and isinstance(left, str):
            _charge(_printf_size(left, right), "a % format")
        return self.binop_table[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and callable(__obj):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:
                items = list(_steps(args[0]))
                _charge(sum(_size(i) for i in items) + len(items) * len(owner), "str.join")
                args = (items, *args[1:])
            else:
                _check_str_method(name, owner, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'...'.format(...)`` is wrapped by the sandbox at attribute lookup: size it too."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, method = value.__self__, value.__name__

        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_str_method(method, text, args, kwargs)
            return wrapped(*args, **kwargs)

        return bounded

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every loop counts its iterations and every ``~`` is sized: rewrite the tree so
        ``for x in it`` iterates ``it|tart-steps`` and ``a ~ b`` is ``[a, b]|tart-concat``."""
        tree = _Bounder().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree  # type: ignore[no-any-return]


class _Bounder(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "tart-steps")
        return node

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        self.generic_visit(node)
        # loop(children) in a recursive loop iterates its argument as well.
        if isinstance(node.node, nodes.Name) and node.node.name == "loop" and node.args:
            node.args[0] = _filter(node.args[0], "tart-steps")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(list(node.nodes), lineno=node.lineno), "tart-concat")


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)
