"""A tiny terminal for the tests: what a screen shows after the bytes a program wrote to it.

It knows what rich writes to a terminal (SGR styles, cursor up/down, erase line, cursor
show/hide, CR, LF as CR+LF) and nothing else: any other escape or control character fails the
test, and so does a printable character past the right margin (a line wider than the terminal,
which a real terminal would wrap), unless ``wrap`` asks for a terminal's autowrap.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\x1b\[(\??)([0-9;]*)([A-Za-z])|[\x00-\x1f\x7f]|[^\x00-\x1f\x7f]+")


class Screen:
    """Every line ever shown (scrollback included), at ``width`` columns."""

    def __init__(self, width: int, *, wrap: bool = False) -> None:
        self.width = width
        self.wrap = wrap  # autowrap as a terminal does, instead of failing
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.col = 0

    def feed(self, data: str) -> Screen:
        for match in _TOKEN.finditer(data):
            token = match.group(0)
            if match.group(3):
                self._csi(match.group(1), match.group(2), match.group(3), token)
            elif token == "\r":
                self.col = 0
            elif token == "\n":
                self.row += 1
                self.col = 0
                while len(self.lines) <= self.row:
                    self.lines.append([])
            elif len(token) == 1 and (token < " " or token == "\x7f"):
                raise AssertionError(f"unexpected control character {token!r}")
            else:
                for char in token:
                    self._put(char)
        return self

    def _put(self, char: str) -> None:
        if self.col >= self.width and self.wrap:
            self.feed("\n")
        if self.col >= self.width:
            line = "".join(self.lines[self.row])
            raise AssertionError(f"line wider than {self.width} columns: {line + char!r}")
        line = self.lines[self.row]
        line.extend(" " * (self.col + 1 - len(line)))
        line[self.col] = char
        self.col += 1

    def _csi(self, private: str, params: str, final: str, token: str) -> None:
        count = int(params) if params.isdigit() else 1
        if final == "m" or (private and final in "hl" and params == "25"):
            return  # styles; cursor hidden/shown
        if private:
            raise AssertionError(f"unexpected escape {token!r}")
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            self.row += count
            while len(self.lines) <= self.row:
                self.lines.append([])
        elif final == "K":
            line = self.lines[self.row]
            mode = int(params or 0)
            if mode == 2:
                line.clear()
            elif mode == 0:
                del line[self.col:]
            else:
                line[: self.col + 1] = [" "] * min(len(line), self.col + 1)
        else:
            raise AssertionError(f"unexpected escape {token!r}")

    def text(self) -> str:
        """The lines shown, right blanks stripped, trailing empty lines dropped."""
        lines = ["".join(line).rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"


def screen_text(data: str, width: int) -> str:
    return Screen(width).feed(data).text()
