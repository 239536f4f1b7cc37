"""The exceptions of the language, and where in the user's code they happened.

Every error raised to a user names the operation, the types involved (`f32[3,4]` vs `f32[5]`) and
the user's own source line: the first frame on the stack that is not inside this library. The
exception classes double-inherit from the builtin exceptions that NumPy habits catch: a shape
mismatch is both a `TypeError` and a `ValueError`.

Tracebacks hide our internal frames: `hide_internal_frames` trims them from an exception that is
about to leave a public entry point, so the last frame a user sees is their own.
"""

from __future__ import annotations

import os
import sys
from types import FrameType, TracebackType

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL_DIRS = tuple(
    os.path.join(_PACKAGE_ROOT, name) + os.sep for name in ("dsl", "interpreters", "backends")
)
_SKIP_MODULES = ("functools", "contextlib", "typeguard", "<frozen", "<string>", "<attrs generated")


_INTERNAL_CACHE: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    hit = _INTERNAL_CACHE.get(filename)
    if hit is None:
        hit = filename.startswith(_INTERNAL_DIRS) or any(m in filename for m in _SKIP_MODULES)
        _INTERNAL_CACHE[filename] = hit
    return hit


def user_frame() -> FrameType | None:
    """The innermost stack frame that belongs to the user's code, not to this library."""
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_location() -> str:
    """`file.py:12` of the user's innermost frame (or `<unknown>`)."""
    frame = user_frame()
    if frame is None:
        return "<unknown>"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


class CombinaxError(Exception):
    """Base class of the library's errors. The message ends with the user's source line."""

    def __init__(self, message: str, *, location: str | None = None):
        self.location = location if location is not None else user_location()
        self.raw_message = message
        super().__init__(f"{message}\n  (at {self.location})")


class ShapeError(CombinaxError, TypeError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DTypeError(CombinaxError, TypeError):
    """Operands whose dtypes do not fit the operation."""


class ArgumentTypeError(CombinaxError, TypeError):
    """An argument of the wrong kind: not an array, not callable, not a pytree, a float where an
    integer is needed."""


class ArgumentValueError(CombinaxError, ValueError):
    """An argument of the right kind with a bad value: a negative size, an unequal split."""


class ConcretizationError(CombinaxError, TypeError):
    """A Python-level decision (`if`, `int()`, `np.asarray`) on a value unknown while staging."""


class ShardingError(CombinaxError, ValueError):
    """An illegal or ambiguous sharding."""


class TransformError(CombinaxError, ValueError):
    """A transform that cannot be applied to this program (or was applied wrongly)."""


class ParseError(CombinaxError, ValueError):
    """Program text that does not parse."""


class TypeCheckError(CombinaxError, TypeError):
    """A program whose declared types disagree with its type rules."""


def hide_internal_frames(exc: BaseException) -> BaseException:
    """Drop this library's frames from `exc`'s traceback, keeping the user's own frames.

    Set the environment variable `COMBINAX_FULL_TRACEBACKS=1` to keep every frame.
    """
    if os.environ.get("COMBINAX_FULL_TRACEBACKS"):
        return exc
    tb: TracebackType | None = exc.__traceback__
    kept: list[TracebackType] = []
    while tb is not None:
        if not _is_internal(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    if not kept:
        return exc
    for earlier, later in zip(kept, kept[1:]):
        earlier.tb_next = later
    kept[-1].tb_next = None
    return exc.with_traceback(kept[0])


def _excepthook(exc_type: type[BaseException], exc: BaseException,
                tb: TracebackType | None) -> None:
    if isinstance(exc, CombinaxError):
        exc = hide_internal_frames(exc.with_traceback(tb))
        tb = exc.__traceback__
    _previous_hook(exc_type, exc, tb)


_previous_hook = sys.excepthook


def install_excepthook() -> None:
    """Print uncaught library errors without our internal frames (the user's frames stay)."""
    if sys.excepthook is not _excepthook:
        global _previous_hook
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook
