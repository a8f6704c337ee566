"""The console that results (tables, paths) are printed on: stdout, full numbers when it is not a terminal.

rich lays a table out to the terminal's width, and without a terminal (`> results.txt`, a pipe, CI) to
80 columns, cutting cells short with an ellipsis: `5.69e…` lost its exponent. ResultsConsole keeps the
terminal's width on a terminal, and lays tables out to WIDE columns elsewhere, so every cell is
printed whole; a width set on it (`console.width = 120`, COLUMNS) still wins.
"""
from __future__ import annotations

from rich.console import Console, ConsoleDimensions

WIDE = 10_000  # columns when stdout is not a terminal: wide enough that no cell is cut


class ResultsConsole(Console):
    """A rich Console on stdout whose width, when it is not a terminal, is WIDE (unless set or COLUMNS)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal and not self._environ.get("COLUMNS", "").isdigit():
            return ConsoleDimensions(WIDE, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def results_console() -> Console:
    """The console for a command's results (stdout)."""
    return ResultsConsole()
