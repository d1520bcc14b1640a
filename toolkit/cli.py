"""The edge between commands (tasks.py, noxfile.py) and the toolkit: errors become exit statuses."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from toolkit.errors import UserError
from toolkit.machines.base import MachineError

F = TypeVar("F", bound=Callable[..., Any])


def user_facing(body: F) -> F:
    """Turn a UserError into one line and exit 2, a MachineError into one line and exit 1; Ctrl-C is 130."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except UserError as error:
            raise Exit(f"error: {error}", code=UserError.exit_code) from None
        except MachineError as error:
            raise Exit(f"error: {error}", code=1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def remainder(argv: list[str]) -> str:
    """What follows `--` on the command line, as one shell command."""
    return " ".join(argv[argv.index("--") + 1 :]) if "--" in argv else ""
