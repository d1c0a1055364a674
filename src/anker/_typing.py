"""``Generic`` and ``TypeVar`` for anker's generic classes without importing ``typing``.

``typing`` costs about 15 ms to import, half of anker's import budget. mypy treats any name
``TYPE_CHECKING`` as true, so it sees the real ``typing`` names; at run time these stand-ins
make ``class Box(Generic[T])`` work, and a class that wants ``Box[int]`` to give a real generic
alias sets ``__class_getitem__ = classmethod(types.GenericAlias)`` itself.
"""

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Generic, TypeVar
else:

    class Generic:
        __slots__ = ()

        def __class_getitem__(cls, params):
            return cls

    def TypeVar(name, *constraints, **options):
        return name


__all__ = ["TYPE_CHECKING", "Generic", "TypeVar"]
