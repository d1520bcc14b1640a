"""The result contract as a JSON Schema (schema.json): what every results.json must look like."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

SCHEMA = Path(__file__).with_name("schema.json")


@cache
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema  # ~100 ms to import: loaded when a results file is checked, not at every command's start

    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def problems(data: Any) -> list[str]:
    """Where data breaks the contract, one line each (empty when it keeps it)."""
    errors = sorted(_validator().iter_errors(data), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}" for error in errors]
