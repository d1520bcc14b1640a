"""What commands' help says of the settings (config.py reads them): the settings file's name, the `--config`
flag, the retry setting's bound and its default in CI.

Apart from config.py so that a command declares its flags without loading the settings' machinery.
"""

from __future__ import annotations

CONFIG_FILE = "vmtest.toml"
CONFIG_HELP = f"settings file to use instead of the nearest {CONFIG_FILE} (default: found upward from here)"
MAX_RETRY = 10  # retries of one red test: each costs a rollback and the test's time again
# Variables a CI service sets in its jobs (GitHub Actions, GitLab CI, CircleCI, Travis, Buildkite set CI; Jenkins
# sets BUILD_NUMBER), as pytest tells CI: there red tests are retried by default (`retry`).
CI_VARIABLES = ("CI", "BUILD_NUMBER")
RETRY_IN_CI = 2
