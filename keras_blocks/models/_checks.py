"""The argument checks the model builders share: one place for each rule.

Each raises a `ValueError` that names the caller (`owner`), the argument, the value and
what is allowed.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def input_shape(owner: str, shape, *, channels: int | None = None, min_size: int = 1,
                why: str = "") -> tuple:
    """`(height, width, channels)`: positive ints, height and width may be `None`.

    Returns the shape as a tuple of ints (and `None`s). With `channels`, the channel
    count must equal it; known heights and widths must be at least `min_size` (`why`
    says why, in the message).
    """
    ok = (
        isinstance(shape, Sequence)
        and not isinstance(shape, str)
        and len(shape) == 3
        and all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
            for d in shape
        )
        and shape[2] is not None
    )
    if not ok:
        raise ValueError(
            f"{owner}: `input_shape` must be (height, width, channels) with positive "
            f"integers (height and width may be None); got {shape!r}."
        )
    result = tuple(None if d is None else int(d) for d in shape)
    if channels is not None and result[2] != channels:
        raise ValueError(
            f"{owner}: `input_shape` must have {channels} channels for these weights; got "
            f"{shape!r}."
        )
    if any(d is not None and d < min_size for d in result[:2]):
        raise ValueError(
            f"{owner}: `input_shape` must be at least {min_size}x{min_size}"
            + (f" ({why})" if why else "") + f"; got {tuple(shape)}."
        )
    return result


def learning_rate(owner: str, argument: str, value, *, optional: bool = False):
    """A finite number > 0 (or `None` when `optional`)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
        or value == float("inf")
    ):
        allowed = "a finite number > 0" + (" or None" if optional else "")
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}`{argument}` must be {allowed}; got {value!r}.")
    return value


def unfreeze_count(owner: str, argument: str, count, available: int, unit: str, base_name):
    """How many units to unfreeze: an int in [0, available]; `None` means all."""
    if count is None:
        return available
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ValueError(
            f"{owner}: `{argument}` must be an int >= 0 or None (all); got {count!r}."
        )
    if count > available:
        raise ValueError(
            f"{owner}: `{argument}` must be at most {available} (the {unit} with trainable "
            f"weights in base {base_name!r}); got {count}. Pass None to unfreeze all."
        )
    return int(count)
