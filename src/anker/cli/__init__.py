"""The ``anker`` command for operators and developers.

Each subsystem adds one command group, in a module of its own that is imported only when that
group runs, so ``anker --help`` stays fast.
"""

from anker.cli._main import cli, main

__all__ = ["cli", "main"]
