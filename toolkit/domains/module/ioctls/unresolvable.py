"""What the scan cannot work out, and why."""


class Unresolvable(Exception):
    """Why the evaluator cannot work a value out (it completes "NAME (where): ...")."""
