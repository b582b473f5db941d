"""Every exception the project raises on purpose, caught by type.

Anything a user can fix by changing a setting raises ``ConfigError`` with one
sentence that names the setting and what would be valid. The command line turns
it into that sentence on stderr and exit status 2, before Ray or MLflow start.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A user-facing setting is invalid; the message says which and what is valid."""


class UnsupportedPolicyError(ValueError):
    """An env's spaces or a checkpoint cannot be served as rows of numbers."""


class SweepInterrupted(RuntimeError):
    """The sweep stopped before all its trials finished (Ctrl-C, SIGTERM); it can be
    resumed. ``signum`` is the signal that stopped it, if one did."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum


class SweepFailed(RuntimeError):
    """Every trial of the sweep failed: there is no result to rank."""
