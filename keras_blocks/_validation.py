"""Argument and shape checks shared by every keras_blocks component.

Each check raises a `ValueError` that names the owner, the argument, the value received
and what is allowed, so a user never has to read a traceback to learn what went wrong.
Like `registry`, this module imports nothing else of keras_blocks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A real, finite number (not a bool): inf and nan are refused everywhere, since no
    argument of ours means anything at infinity and nan compares false with every bound."""
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _not_finite(value: Any) -> str:
    """A note for a message when `value` is inf or nan (else empty)."""
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        return " (inf and nan are not allowed)"
    return ""


def finite_number(owner: str, name: str, value: Any, *, minimum: float | None = None,
                  open_minimum: bool = False) -> float:
    """A finite number (optionally > or >= `minimum`), else `ValueError`."""
    ok = _is_number(value) and (
        minimum is None or (value > minimum if open_minimum else value >= minimum)
    )
    if not ok:
        bound = "" if minimum is None else f" {'>' if open_minimum else '>='} {minimum}"
        raise ValueError(f"{owner}: `{name}` must be a finite number{bound}; got {value!r}.")
    return float(value)


def positive_int(owner: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """`value` as an int >= `minimum`, else `ValueError`."""
    if not _is_int(value) or value < minimum:
        raise ValueError(
            f"{owner}: `{name}` must be an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def int_tuple(owner: str, name: str, value: Any, n: int = 2, *, minimum: int = 1) -> tuple:
    """An int or a sequence of `n` ints (each >= `minimum`) as an `n`-tuple."""
    if _is_int(value):
        values = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n:
        values = tuple(value)
    else:
        values = None
    if values is None or not all(_is_int(v) and v >= minimum for v in values):
        raise ValueError(
            f"{owner}: `{name}` must be a positive integer or a sequence of {n} positive "
            f"integers; got {value!r}."
        )
    return tuple(int(v) for v in values)


def fraction(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float = 1.0,
    include_high: bool = False,
) -> float:
    """A number in `[low, high)` (or `[low, high]` with `include_high`)."""
    closing = "]" if include_high else ")"
    ok = _is_number(value) and low <= value and (value <= high if include_high else value < high)
    if not ok:
        raise ValueError(
            f"{owner}: `{name}` must be a number in [{low}, {high}{closing}; got {value!r}"
            f"{_not_finite(value)}."
        )
    return float(value)


def non_negative(owner: str, name: str, value: Any) -> float:
    """A number >= 0."""
    if not _is_number(value) or value < 0:
        raise ValueError(f"{owner}: `{name}` must be a number >= 0; got {value!r}"
                         f"{_not_finite(value)}.")
    return float(value)


def one_of(owner: str, name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """`value` if it is in `allowed`, else `ValueError` listing the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(
            f"{owner}: `{name}` must be one of {', '.join(repr(a) for a in allowed)}; "
            f"got {value!r}."
        )
    return value


def value_range(owner: str, name: str, value: Any) -> tuple[float, float]:
    """A `(low, high)` pair of numbers with low < high."""
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_number(v) for v in value)
        and value[0] < value[1]
    )
    if not ok:
        raise ValueError(
            f"{owner}: `{name}` must be a (low, high) pair of finite numbers with low < "
            f"high, such as (0, 255) or (0, 1); got {value!r}."
        )
    return float(value[0]), float(value[1])


def factor_pair(
    owner: str,
    name: str,
    value: Any,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    symmetric: bool = True,
) -> tuple[float, float]:
    """A float or a `(low, high)` pair as `(low, high)`.

    A single float `f` means `(-f, f)` when `symmetric`, else `(0, f)`. Every bound must
    lie in `[min_value, max_value]` and low <= high.
    """
    if _is_number(value):
        if value < 0:
            raise ValueError(
                f"{owner}: `{name}` as a single number must be >= 0 (it means the range "
                f"{'(-f, f)' if symmetric else '(0, f)'}); got {value!r}."
            )
        pair = (-float(value), float(value)) if symmetric else (0.0, float(value))
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_number(v) for v in value)
    ):
        pair = (float(value[0]), float(value[1]))
        if pair[0] > pair[1]:
            raise ValueError(
                f"{owner}: `{name}` must be (low, high) with low <= high; got {value!r}."
            )
    else:
        raise ValueError(
            f"{owner}: `{name}` must be a number or a (low, high) pair of numbers "
            f"(finite); got {value!r}."
        )
    lo_ok = min_value is None or pair[0] >= min_value
    hi_ok = max_value is None or pair[1] <= max_value
    if not (lo_ok and hi_ok):
        raise ValueError(
            f"{owner}: `{name}` must lie within [{min_value}, {max_value}]; got {value!r} "
            f"(range {pair})."
        )
    return pair


def shape_rank(owner: str, input_shape: Sequence, ranks: Iterable[int], what: str) -> None:
    """Checks the rank of `input_shape` at build time."""
    ranks = tuple(ranks)
    if len(input_shape) not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{owner}: expected a rank-{expected} input ({what}); got shape "
            f"{tuple(input_shape)} (rank {len(input_shape)})."
        )


def known_channels(owner: str, input_shape: Sequence) -> int:
    """The (static) channel count of a channels-last shape."""
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(
            f"{owner}: the channel dimension (last axis) must be known at build time; "
            f"got shape {tuple(input_shape)}."
        )
    return int(channels)
