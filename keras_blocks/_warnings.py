"""Warnings that point at the user's line, not at a line inside keras_blocks."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn` with the stack level of the first caller outside keras_blocks.

    A fixed `stacklevel` is right for one call path only (a warning raised while
    building the training subset sits deeper than one raised for a whole folder); this
    walks the stack instead, so the warning names the user's file and line.
    """
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the caller of warn_user
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
