"""Nox sessions: the kernel matrix, one session per kernel line, and the tests.

nox -s kernel-matrix [-- --kernels 6.1,6.12 --module-dir DIR --provider qemu|vagrant --jobs N]
nox -s "kernel-line(line='6.12')" [-- --module-dir DIR]
"""

from __future__ import annotations

import sys

import nox

from toolkit import kernels, matrix_cli

nox.options.sessions = ["kernel-matrix"]
LINES = [line.name for line in kernels.CATALOGUE]


def _finish(session: nox.Session, status: int) -> None:
    if status == 2:
        sys.exit(2)  # a usage error: nox's own exit status would say 1
    if status:
        session.error("tests failed or errored: see the table above")


@nox.session(name="kernel-matrix", python=False)
def kernel_matrix(session: nox.Session) -> None:
    """Every kernel line in parallel, one kernel x test table, results/<run>/ with report.html."""
    _finish(session, matrix_cli.main(list(session.posargs)))


@nox.session(name="kernel-line", python=False)
@nox.parametrize("line", LINES)
def kernel_line(session: nox.Session, line: str) -> None:
    """One kernel line, the same way the matrix runs it."""
    _finish(session, matrix_cli.main(["--kernels", line, *session.posargs]))


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit and end-to-end tests (the README's test command)."""
    session.run("pytest", *session.posargs)
