"""config.*: the settings in force and where each came from."""

from __future__ import annotations

from invoke import Context

from toolkit.commands import chosen_config, collection, command
from toolkit.run_options import DEBUG_HELP, KERNEL_HELP, PROVIDER_HELP
from toolkit.tasks.flag_help import JSON_HELP


@command(help={"kernel": KERNEL_HELP, "provider": PROVIDER_HELP, "debug": DEBUG_HELP, "json": JSON_HELP})
def config_show(
    c: Context, kernel: str | None = None, provider: str | None = None, debug: str | None = None, json: bool = False
) -> None:
    """Print every setting, its value and where it came from (default, a vmtest.toml, a VEXFS_* variable, a flag)."""
    from toolkit import config
    from toolkit.tasks.common import print_json
    from toolkit.text_tables import table

    found = config.effective({"kernel": kernel, "provider": provider, "debug": debug}, chosen_config(c))
    known = [str(entry) for entry in found.settings.known_failures]
    if json:
        print_json({"settings": found.rows(), "files": [str(path) for path in found.files], "known_failures": known})
        return
    print(table([list(row.values()) for row in found.rows()], ["setting", "value", "from"]))
    read = ", ".join(str(path) for path in found.files) or f"none (no {config.CONFIG_FILE} here or above)"
    print(f"\nsettings files read: {read}")
    if known:
        print(f"known failures ({len(known)}, from {found.origins['known_failures']}):")
        print("\n".join(f"  {entry}" for entry in known))


ns = collection("config", config_show)
