"""An error hook that costs a statement nothing until an error happens.

SQLAlchemy calls ``handle_error`` listeners only on errors, but listening for any dialect event
turns on the dialect's event flag, and with it on, every statement walks the dialect's
``do_execute`` (or ``do_executemany``, ``do_execute_no_params``) listeners, empty as they are:
two Python calls a statement (the empty collection's ``__iter__`` and ``iter``), which were
most of what anker's engine cost a primary-key read over plain SQLAlchemy.

:func:`quiet_statement_hooks` puts an empty tuple in place of each of those empty collections
on the engine's dialect: SQLAlchemy's loop over a tuple makes no call. The tuple stands for the
collection it replaced: ``event.listen`` on the engine asks it for a collection to add to
(``for_modify``), and it puts SQLAlchemy's own back first, so a listener added later runs as it
would have (and its statements pay for the walk again). It is installed only where no listener
of the dialect's class exists; one added to the class later (``event.listen(SomeDialect,
"do_execute", ...)``) is not seen by the engines made before.

Imported by :mod:`anker.db._engine` after SQLAlchemy (never by ``import anker.db``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.event.attr import _EmptyListener

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

__all__ = ["STATEMENT_HOOKS", "quiet_statement_hooks"]

#: the dialect events SQLAlchemy walks on every statement once the dialect has a listener
STATEMENT_HOOKS = ("do_execute", "do_executemany", "do_execute_no_params")


class _NoListeners(tuple[()]):
    """An empty dialect event collection that SQLAlchemy iterates without a call: a tuple,
    standing for ``empty``, SQLAlchemy's own empty collection of the same event."""

    empty: Any

    def __new__(cls, empty: Any) -> _NoListeners:
        collection = super().__new__(cls)
        collection.empty = empty
        return collection

    def for_modify(self, dispatch: Any) -> Any:
        """The collection ``event.listen`` adds to: SQLAlchemy's own, back in place."""
        if getattr(dispatch, self.empty.name) is self:
            setattr(dispatch, self.empty.name, self.empty)
        return self.empty.for_modify(dispatch)

    def __getattr__(self, name: str) -> Any:
        # anything else SQLAlchemy may ask of an event collection, answered as its own would
        return getattr(self.empty, name)


def quiet_statement_hooks(dialect: Dialect) -> bool:
    """Make the per-statement walk of ``dialect``'s empty statement hooks free of calls;
    whether it was (False: some hook has a listener, or SQLAlchemy keeps its collections in
    another way than the one this knows, and statements walk them as before)."""
    dispatch: Any = dialect.dispatch
    collections = [getattr(dispatch, name, None) for name in STATEMENT_HOOKS]
    if not all(type(each) is _EmptyListener and not each.parent_listeners for each in collections):
        return False
    for name, empty in zip(STATEMENT_HOOKS, collections, strict=True):
        setattr(dispatch, name, _NoListeners(empty))
    return True
