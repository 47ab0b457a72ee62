"""A safe evaluator for Cinder's filter_function / goodness_function.

Backends report expressions such as
    "capabilities.total_volumes < 100 and volume.size <= 50"
    "(stats.free_capacity_gb / stats.total_capacity_gb) * 100"
    "volume.size < 10 ? 100 : max(10, 50 - volume.size)"
and the DriverFilter / GoodnessWeigher evaluate them for every request. They
come from the network, so nothing here uses eval: a tokenizer and a
recursive-descent parser build closures over a whitelisted grammar.

Grammar and precedence follow Cinder's evaluator (lowest first):
    or (OR, ||) < and (AND, &&) < ternary a ? b : c < comparisons
    (< <= > >= == != <>, chained) < not (NOT, !) < + - < * / < unary + -
    < ^ (power, right-associative) < function calls abs() max() min()
Operands: integers, decimals, quoted strings, bare words (strings, as in
Cinder) and variables namespace.name with namespace one of capabilities,
stats, volume, qos, extra. A variable's value is read per evaluation; bools
become 0/1 and numeric strings numbers, as in Cinder (but a float stays a
float: Cinder truncates it with int()).

Bounds, so a report cannot make the scheduler spin or eat memory: at most
MAX_LENGTH characters, MAX_DEPTH nesting, MAX_NODES nodes; evaluation has no
loops and visits each node at most once, so MAX_NODES is also the step budget
of one evaluation. Arithmetic is on numbers only (no string repetition), and
a power whose result would exceed MAX_POWER_BITS bits, or overflow a float, is
an error instead of a computation. Constant sub-expressions are folded at
compile time, so '7 ^ 7 ^ 9' is refused when the report arrives.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 1024
MAX_DEPTH = 32
MAX_NODES = 512
MAX_POWER_BITS = 4096
NAMESPACES = ("capabilities", "stats", "volume", "qos", "extra")

Value = int | float | str | bool
Env = Mapping[str, Mapping[str, Any]]
Node = Callable[[Env], Value]


class ExpressionError(ValueError):
    """The expression is not valid (refused when a report brings it)."""


class EvaluationError(ValueError):
    """The expression failed for this pool and request (a missing variable,
    a type mismatch, a division by zero, an overflow)."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+\.\d+|\d+)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op><=|>=|==|!=|<>|&&|\|\||[-+*/^()?:,<>!])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "and": "and", "AND": "and", "&&": "and",
    "or": "or", "OR": "or", "||": "or",
    "not": "not", "NOT": "not", "!": "not",
}  # fmt: skip
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., Value]] = {"abs": abs, "max": max, "min": min}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = m.lastgroup
        assert kind is not None
        word = m.group(kind)
        if kind in ("name", "op") and word in _KEYWORDS:
            tokens.append(("kw", _KEYWORDS[word]))
        else:
            tokens.append((kind, word))
        pos = m.end()
    return tokens


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    raise EvaluationError(f"{value!r} is not a number")


def _power(base: Value, exponent: Value) -> int | float:
    b, e = _number(base), _number(exponent)
    if isinstance(b, int) and isinstance(e, int) and e >= 0:
        if abs(b) > 1 and e * b.bit_length() > MAX_POWER_BITS:
            raise EvaluationError(f"{b} ^ {e} is too large")
        return b**e
    try:
        return math.pow(b, e)
    except OverflowError:
        raise EvaluationError(f"{b} ^ {e} overflows") from None
    except ValueError:
        raise EvaluationError(f"{b} ^ {e} is not a real number") from None


def _divide(a: Value, b: Value) -> float:
    try:
        return _number(a) / float(_number(b))
    except ZeroDivisionError:
        raise EvaluationError("division by zero") from None
    except OverflowError:
        raise EvaluationError("a number is too large") from None


def _arith(op: str) -> Callable[[Value, Value], Value]:
    raw: Callable[[Any, Any], Any] = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op]

    def apply(a: Value, b: Value) -> Value:
        result = raw(_number(a), _number(b))
        if isinstance(result, int) and result.bit_length() > MAX_POWER_BITS:
            raise EvaluationError("a number is too large")
        return result

    return apply


def _compare(op: str) -> Callable[[Value, Value], bool]:
    raw = _COMPARISONS[op]

    def apply(a: Value, b: Value) -> bool:
        try:
            return bool(raw(a, b))
        except TypeError:
            raise EvaluationError(f"cannot compare {a!r} {op} {b!r}") from None

    return apply


def _variable_value(value: Any, name: str) -> Value:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            return value.replace('"', "").replace("'", "")
    raise EvaluationError(f"{name} is {type(value).__name__}, not a number or a string")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.nodes = 0
        self.variables: set[str] = set()

    # -- helpers ----------------------------------------------------------------
    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        kind, got = self.take()
        if got != word or kind not in ("op", "kw"):
            raise ExpressionError(f"expected {word!r}, found {got or 'the end'!r}")

    def at(self, *words: str) -> bool:
        kind, word = self.peek()
        return kind in ("op", "kw") and word in words

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"the expression has more than {MAX_NODES} parts")

    def node(self, fn: Node, *children: Node) -> Node:
        """Count the node; fold it to a constant when its children are constants."""
        self.count()
        if children and all(getattr(c, "constant", False) for c in children):
            try:
                value = fn({})
            except EvaluationError as err:
                raise ExpressionError(str(err)) from None
            return _const(value)
        return fn

    def deeper(self, parse: Callable[[], Node]) -> Node:
        """`parse` one level deeper (bounded: no recursion blow-up)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH}")
        try:
            return parse()
        finally:
            self.depth -= 1

    def infix(
        self, operand: Callable[[], Node], builds: Mapping[str, Callable[[Node, Node], Node]]
    ) -> Node:
        """`operand (op operand)*` for the operators `builds` has, grouped from the left;
        `builds` maps an operator to the node of its two sides."""
        left = operand()
        while self.at(*builds):
            build = builds[self.take()[1]]
            right = operand()
            left = self.node(build(left, right), left, right)
        return left

    # -- grammar, lowest precedence first ---------------------------------------
    def expression(self) -> Node:
        return self.deeper(self.or_expr)

    def or_expr(self) -> Node:
        return self.infix(self.and_expr, _OR)

    def and_expr(self) -> Node:
        return self.infix(self.ternary, _AND)

    def ternary(self) -> Node:
        cond = self.comparison()
        while self.at("?"):
            self.take()
            yes = self.comparison()
            self.expect(":")
            no = self.comparison()
            cond = self.node(_ternary(cond, yes, no), cond, yes, no)
        return cond

    def comparison(self) -> Node:
        first = self.negation()
        chain: list[tuple[Callable[[Value, Value], bool], Node]] = []
        while self.at(*_COMPARISONS):
            op = self.take()[1]
            chain.append((_compare(op), self.negation()))
        if not chain:
            return first
        return self.node(_chain(first, chain), first, *(n for _, n in chain))

    def negation(self) -> Node:
        if self.at("not"):
            self.take()
            inner = self.deeper(self.negation)
            return self.node(lambda env: not inner(env), inner)
        return self.additive()

    def additive(self) -> Node:
        return self.infix(self.multiplicative, _ADDITIVE)

    def multiplicative(self) -> Node:
        return self.infix(self.sign, _MULTIPLICATIVE)

    def sign(self) -> Node:
        if self.at("+", "-"):
            negative = self.take()[1] == "-"
            inner = self.deeper(self.sign)
            if negative:
                return self.node(lambda env: -_number(inner(env)), inner)
            return self.node(lambda env: _number(inner(env)), inner)
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        if self.at("^"):
            self.take()
            exponent = self.deeper(self.sign)  # right-associative: 2 ^ 3 ^ 2 = 2 ^ 9
            return self.node(_binary(_power, base, exponent), base, exponent)
        return base

    def primary(self) -> Node:
        kind, word = self.take()
        if kind == "num":
            self.count()
            return _const(float(word) if "." in word else int(word))
        if kind == "str":
            self.count()
            return _const(word[1:-1])
        if kind == "name":
            return self.name(word)
        if kind == "op" and word == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        raise ExpressionError(f"unexpected {word or 'end of expression'!r}")

    def name(self, word: str) -> Node:
        if word in _FUNCTIONS:
            if not self.at("("):
                raise ExpressionError(f"{word} needs its arguments in parentheses")
            self.take()
            args = [self.expression()]
            while self.at(","):
                self.take()
                args.append(self.expression())
            self.expect(")")
            if word == "abs" and len(args) != 1:
                raise ExpressionError("abs takes one argument")
            return self.node(_call(_FUNCTIONS[word], args), *args)
        parts = word.split(".")
        if len(parts) == 1:
            self.count()
            return _const(word)  # a bare word is a string, as in Cinder
        if len(parts) != 2 or parts[0] not in NAMESPACES:
            raise ExpressionError(
                f"unknown variable {word!r} (use one of {', '.join(NAMESPACES)} + '.name')"
            )
        self.variables.add(word)
        return self.node(_variable(parts[0], parts[1], word))


def _const(value: Value) -> Node:
    def const(env: Env) -> Value:
        return value

    const.constant = True  # type: ignore[attr-defined]
    return const


def _variable(namespace: str, entry: str, name: str) -> Node:
    def variable(env: Env) -> Value:
        try:
            value = env[namespace][entry]
        except (KeyError, TypeError):
            raise EvaluationError(f"{name} is not set") from None
        return _variable_value(value, name)

    return variable


def _binary(op: Callable[[Value, Value], Value], left: Node, right: Node) -> Node:
    return lambda env: op(left(env), right(env))


def _and(left: Node, right: Node) -> Node:
    return lambda env: left(env) and right(env)


def _or(left: Node, right: Node) -> Node:
    return lambda env: left(env) or right(env)


# The operators of each level of _Parser.infix, and the node each builds.
_OR = {"or": _or}
_AND = {"and": _and}
_ADDITIVE = {word: functools.partial(_binary, _arith(word)) for word in ("+", "-")}
_MULTIPLICATIVE = {
    "*": functools.partial(_binary, _arith("*")),
    "/": functools.partial(_binary, _divide),
}


def _ternary(cond: Node, yes: Node, no: Node) -> Node:
    return lambda env: yes(env) if cond(env) else no(env)


def _chain(first: Node, chain: list[tuple[Callable[[Value, Value], bool], Node]]) -> Node:
    def compare(env: Env) -> bool:
        left = first(env)
        for op, node in chain:
            right = node(env)
            if not op(left, right):
                return False
            left = right
        return True

    return compare


def _call(fn: Callable[..., Value], args: list[Node]) -> Node:
    def call(env: Env) -> Value:
        values = [args[0](env)] if len(args) == 1 else [a(env) for a in args]
        if fn is abs:
            return abs(_number(values[0]))
        try:
            return fn(*values) if len(values) > 1 else values[0]
        except TypeError:
            raise EvaluationError(f"cannot compare {values!r}") from None

    return call


class Expression:
    """A compiled filter/goodness function: compile once, evaluate per pool."""

    __slots__ = ("_root", "source", "variables")

    def __init__(self, source: str, root: Node, variables: frozenset[str]) -> None:
        self.source = source
        self._root = root
        self.variables = variables

    def evaluate(self, env: Env) -> Value:
        """The value for one pool and request; EvaluationError when it fails."""
        try:
            return self._root(env)
        except RecursionError:  # pragma: no cover - MAX_DEPTH keeps it far away
            raise EvaluationError("the expression is too deep") from None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(source: str) -> Expression:
    """Parse and check an expression; ExpressionError says what is wrong."""
    if not isinstance(source, str):
        raise ExpressionError("the expression must be a string")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    tokens = _tokenize(source)
    if not tokens:
        raise ExpressionError("the expression is empty")
    parser = _Parser(tokens)
    root = parser.expression()
    if parser.pos != len(tokens):
        raise ExpressionError(f"unexpected {parser.peek()[1]!r} after the expression")
    return Expression(source, root, frozenset(parser.variables))
