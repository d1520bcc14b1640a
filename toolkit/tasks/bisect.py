"""bisect: the first commit of the module's git history that turns the selected tests red (toolkit/bisect/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invoke import Context
from invoke.exceptions import Exit

from toolkit import kernels
from toolkit.commands import chosen_config, command_for
from toolkit.domains.options import option, parse
from toolkit.errors import UserError
from toolkit.run_options import BISECT


@dataclass(frozen=True)
class Ends:
    """The two commits a bisect starts from."""

    good: str | None = option(None, "a commit of the module's repository where the tests pass (hash, branch, tag)")
    bad: str | None = option(None, "a later commit where they fail, descending from --good")


@command_for(BISECT, own=Ends)
def bisect(c: Context, values: dict[str, Any]) -> None:
    """Find the first commit after --good up to --bad that turns the tests red; the steps, results/bisect-*/.

    Each step builds one commit of the module's git repository (exported into scratch, the checkout untouched)
    and runs the tests, or --only's, on the warm VM; a commit that does not build is skipped.
    """
    from toolkit.bisect import bisection
    from toolkit.progress import Progress
    from toolkit.results import store
    from toolkit.tasks.common import require_room, stoppable, sweep

    ends = parse(Ends, {name: values.pop(name, None) for name in ("good", "bad")})
    if ends.good is None or ends.bad is None:
        missing = "--good" if ends.good is None else "--bad"
        raise UserError(f"{missing} is missing: give both ends, e.g. `invoke bisect --good v1.0 --bad HEAD`")
    request = BISECT.request(values, chosen_config(c))
    found = request.settings
    asked = bisection.ask(found, request.plans[0], request.name or "", ends.good, ends.bad)
    require_room(found, asked.vm_name)
    sweep(found)
    bisect_id = f"bisect-{store.new_run_id()}"
    folder = bisection.folder_for(found, bisect_id)
    print(f"bisecting {len(asked.commits)} commits after {asked.good.short} up to {asked.bad.short} with "
          f"{', '.join(asked.tests)} on {kernels.select(found.kernel).name}", flush=True)  # fmt: skip
    with stoppable(f"the steps so far are in {folder}"):
        record = bisection.run(asked, bisect_id, Progress("bisect"))
    print(record.text())
    print(f"results: {folder} (bisect.json)")
    raise Exit(code=record.exit_status())
