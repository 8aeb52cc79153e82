"""Configuration errors: every problem found, each tied to the dotted key path it concerns.

Messages never contain the value of a secret key: the validators describe the rule that was
broken, not what was written (reference 1.7, DESIGN section 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: ``path`` is the dotted key path (``serve.port``, ``allowFrom[1]``), or the
    file name for problems with the file itself."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """Raised when a configuration cannot be used; carries every issue found, not just the first.

    ``str(err)`` is one line per issue (``path: message``); :attr:`path` is the first issue's path
    (the CLI names it when it exits with the configuration-error code).
    """

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        if not self.issues:
            raise ValueError("ConfigError needs at least one issue")
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def single(cls, path: str, message: str) -> ConfigError:
        return cls([ConfigIssue(path, message)])

    @property
    def path(self) -> str:
        return self.issues[0].path
