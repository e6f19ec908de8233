"""One registry helper for every family of plug-ins (issue 23, item 2): base models, encoders, dataset adapters,
W2S students, selection methods, failure-predictor losses and W2S losses each are a ``Registry``.

An entry is added with ``@family.register("name")`` on a class or a function (or ``family.register("name", obj)``);
the modules that register entries are listed where the registry is made and imported on first use, so importing a
registry loads nothing heavy: a tuple of modules is imported whole on the first lookup, a mapping {name: module}
imports only the module of the name asked for (a model whose module loads transformers). An unknown name is one
``UserError`` line naming the family and every known name. Like pyiqa's ``Registry``, with lazy loading.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from vqaloop.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry of one ``family`` (the word used in errors). ``modules``: the modules that register entries,
    a sequence (all imported on the first lookup; one not installed is skipped) or a mapping {name: module} (that
    module imported when its name is asked for; the name is known before)."""

    def __init__(self, family: str, modules: Sequence[str] | Mapping[str, str] = ()):
        self.family = family
        self.modules = modules
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, entry: T | None = None) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, a decorator adding what it decorates. Registering a
        different entry under a taken name is a programming error (ValueError)."""

        def add(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.family} {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return add(entry) if entry is not None else add

    def registered(self, name: str) -> T | None:
        """The entry ``name`` if it is registered already (no module imported), else None."""
        return self._entries.get(name)

    def load(self, name: str | None = None) -> None:
        """Import the registering modules: every one of a sequence (once), or the one of ``name`` in a mapping."""
        if isinstance(self.modules, Mapping):
            if name is not None and name in self.modules and name not in self._entries:
                importlib.import_module(self.modules[name])
            return
        if not self._loaded:
            for module in self.modules:
                if importlib.util.find_spec(module) is not None:
                    importlib.import_module(module)
            self._loaded = True

    def names(self) -> list[str]:
        """Every known name, sorted (a mapping's names without importing their modules)."""
        self.load()
        lazy = self.modules if isinstance(self.modules, Mapping) else {}
        return sorted(set(self._entries) | set(lazy))

    def get(self, name: str) -> T:
        """The entry ``name``; one UserError line listing the known names otherwise."""
        self.load(name)
        if name not in self._entries:
            raise UserError(f"unknown {self.family} {name!r}; valid: {', '.join(self.names())}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self.load(name)
        return name in self._entries or (isinstance(self.modules, Mapping) and name in self.modules)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self.get(name)) for name in self.names()]

    def values(self) -> list[T]:
        return [self.get(name) for name in self.names()]


def decorator_setting(registry: Registry, key: str, /, **attributes: Any) -> Callable[[T], T]:
    """A class decorator that sets ``attributes`` on the class, then registers it under ``key``."""

    def wrap(cls: T) -> T:
        for attribute, value in attributes.items():
            setattr(cls, attribute, value)
        return registry.register(key, cls)

    return wrap
