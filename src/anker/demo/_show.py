"""What ``anker demo`` prints: numbered steps, events, outcomes and a summary, in colour on a
terminal (never when ``NO_COLOR`` is set or the output is a file)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from anker.demo._scenario import StepResult

__all__ = ["Show"]

_CODES = {"bold": "1", "dim": "2", "green": "32", "red": "31", "cyan": "36", "yellow": "33"}


class Show:
    """Prints the scenario as it goes to ``out`` (default: stdout)."""

    def __init__(self, out: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        if colour is None:
            colour = self.out.isatty() and not os.environ.get("NO_COLOR")
        self.colour = colour
        self.number = 0

    def paint(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[style] for style in styles)
        return f"\033[{codes}m{text}\033[0m"

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, title: str, how: str) -> None:
        self.number += 1
        self.line()
        self.line(
            f"{self.paint(f'{self.number}.', 'bold')} {self.paint(title, 'bold')}  "
            + self.paint(how, "dim")
        )

    def note(self, text: str) -> None:
        self.line(f"   {self.paint('·', 'dim')} {text}")

    def event(self, text: str) -> None:
        self.line(f"   {self.paint('event', 'cyan')} {text}")

    def outcome(self, ok: bool, text: str) -> None:
        mark = self.paint("✓", "green", "bold") if ok else self.paint("✗", "red", "bold")
        self.line(f"   {mark} {text}")

    def summary(self, results: list[StepResult], seconds: float) -> None:
        passed = sum(result.ok for result in results)
        self.line()
        self.line(self.paint("Summary", "bold"))
        width = max((len(result.name) for result in results), default=0)
        for result in results:
            mark = self.paint("✓", "green") if result.ok else self.paint("✗", "red")
            self.line(f"  {mark} {result.name.ljust(width)}  {result.detail}")
        colour = "green" if passed == len(results) else "red"
        self.line(
            self.paint(f"{passed} of {len(results)} steps as expected", colour, "bold")
            + f" in {seconds:.1f} s"
        )
