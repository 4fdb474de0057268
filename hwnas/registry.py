"""One small registry class, one instance per kind of plug-in (spaces, ops, profilers, strategies).

Borrowed idea (timm's ``_registry``): a decorator registers a class or factory under a name, and
``names()`` / ``get()`` list and look it up.  Unknown names raise :class:`UnknownNameError` listing the
valid ones, so the CLI can show it as a one-line error.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from hwnas.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def register_class(self, cls: T) -> T:
        """Class decorator: register ``cls`` under its ``name`` class attribute."""
        return self.register(cls.name)(cls)  # type: ignore[attr-defined]

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
