"""The exception hierarchy of quytrinh.

One base error, one family per kind of caller reaction. Foreign errors (YAML,
networkx, SQLAlchemy, Prefect) are translated into these at the edge, so a user
never sees a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class QuytrinhError(Exception):
    """Base of every error quytrinh raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where something is in a source file (1-based line and column)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


class DefinitionError(QuytrinhError):
    """A procedure definition, template or units file cannot be loaded.

    Carries one or more located problems; ``str()`` prints them one a line as
    ``path:line:col: rule-id: message``.
    """

    def __init__(self, problems: list["Problem"]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Problem:
    """One located problem found while loading a definition."""

    location: Location
    rule: str
    message: str
    step: str | None = None

    def __str__(self) -> str:
        step = f" step '{self.step}':" if self.step else ""
        return f"{self.location}: {self.rule}:{step} {self.message}"


class CalendarError(QuytrinhError):
    """A working-time calendar is misconfigured or asked an impossible question."""


class ActionError(QuytrinhError):
    """A dossier action was refused; nothing was changed."""


class IllegalAction(ActionError):
    """The action is not allowed in the dossier's or work item's current state."""


class StaleVersion(ActionError):
    """The dossier changed since the caller read it (optimistic locking)."""


class NotAuthorized(ActionError):
    """The actor's unit or role may not act on this work item."""


class DuplicateRequest(ActionError):
    """The idempotency key was already used for a different request."""


class NotFound(QuytrinhError):
    """A dossier, work item, procedure or user does not exist."""
