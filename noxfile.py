"""Nox sessions: the kernel matrix, one session per kernel line, and the tests split by cost.

nox -s kernel-matrix [-- --kernels 6.1,6.12 --domains kernel_module --module-dir DIR --provider qemu|vagrant --jobs N]
  (the matrix's flags are `invoke test.matrix`'s: `nox -s kernel-matrix -- --help` lists them)
nox -s "kernel-line(line='6.12')" [-- --module-dir DIR]
nox -s lint | docs | unit | e2e | reliability | tests | record-transcripts [-- --kernel 7.x]
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import nox

from toolkit import kernels, program

nox.options.sessions = ["kernel-matrix"]
# Sessions run in the toolkit's own environment (.venv): its tools come first on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


class _NoVirtualenvNews(logging.Filter):
    """Drop what nox says about virtualenvs: every session here runs in the toolkit's own (python=False), yet nox
    looks for uv before each one and says `uv binary not found.` in front of the session's own output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.module != "virtualenv"


logging.getLogger("nox").addFilter(_NoVirtualenvNews())
logging.getLogger("invoke").setLevel(
    logging.WARNING
)  # the matrix's task runs in this process: not invoke's debug lines
LINES = [line.name for line in kernels.CATALOGUE]


def _finish(session: nox.Session, status: int) -> None:
    if status == 2:
        sys.exit(2)  # a usage error: nox's own exit status would say 1
    if status:
        session.error("tests failed or errored: see the table above")


@nox.session(name="kernel-matrix", python=False)
def kernel_matrix(session: nox.Session) -> None:
    """Every kernel line in parallel, one kernel x test table, results/<run>/ with report.html (`invoke test.matrix`)."""
    _finish(session, program.run_task(["test.matrix", *session.posargs]))


@nox.session(name="kernel-line", python=False)
@nox.parametrize("line", LINES)
def kernel_line(session: nox.Session, line: str) -> None:
    """One kernel line, the same way the matrix runs it."""
    _finish(session, program.run_task(["test.matrix", "--kernels", line, *session.posargs]))


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff, mypy on toolkit/, shellcheck on the guest scripts and the chroot's entry, the CI examples checked
    (seconds)."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    shell = [*Path("toolkit").rglob("scripts/*.sh"), Path("toolkit/chroot.sh"), *Path("kernel").rglob("*.sh")]
    scripts = sorted(str(path) for path in shell)
    session.run("shellcheck", "--shell=sh", "--external-sources", "--source-path=SCRIPTDIR", *scripts, external=True)
    # The CI examples (ci/): actionlint runs shellcheck on their steps; GitLab's schema is vendored in check-jsonschema.
    session.run("actionlint", "ci/github-actions.yml")
    session.run("check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
                "ci/gitlab-ci.yml")  # fmt: skip


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """The docs site (docs/, mkdocs.yml) built with warnings as errors, into the ignored .site/ (seconds)."""
    session.run("mkdocs", "build", "--strict", "--site-dir", ".site")


@nox.session(python=False)
def unit(session: nox.Session) -> None:
    """Unit tests alone (no VM, no root), with the coverage of the domains and the runner (>= 90 %)."""
    session.run("pytest", "-q", "tests/unit", "--cov=toolkit.domains", "--cov=toolkit.pipeline", "--cov=toolkit.plans", "--cov=toolkit.results.folder", "--cov=toolkit.run_machines",
                "--cov-report=term-missing:skip-covered", "--cov-fail-under=90", *session.posargs)  # fmt: skip


@nox.session(python=False)
def e2e(session: nox.Session) -> None:
    """End-to-end tests: real VMs, real kernels (minutes; root)."""
    session.run("pytest", "-v", "-rfEs", "tests/e2e", *session.posargs)


@nox.session(name="e2e-full", python=False)
def e2e_full(session: nox.Session) -> None:
    """Every end-to-end test, the long tail of fixtures CI leaves out included (an hour and more)."""
    session.run("pytest", "-v", "-rfEs", "tests/e2e", *session.posargs, env={"VEXFS_FULL": "1"})


@nox.session(python=False)
def reliability(session: nox.Session) -> None:
    """Signals at every stage, racing runs, a wedged guest: all of tests/reliability (CI runs a subset)."""
    session.run("pytest", "-v", "-rfEs", "-s", "tests/reliability", *session.posargs, env={"VEXFS_FULL": "1"})


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit and end-to-end tests (the README's test command)."""
    session.run("pytest", *session.posargs)


@nox.session(name="record-transcripts", python=False)
def record_transcripts(session: nox.Session) -> None:
    """Record the kernel_module domain's guest transcripts from real runs (after changing what a test asks)."""
    session.run("python", "-m", "tests.record_transcripts", *session.posargs)
