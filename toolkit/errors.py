"""The one error type a user can fix: printed as one line, exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: bad input, a missing tool, no disk space.

    The message says what is wrong and how to fix it, in one line.
    """

    exit_code = 2
