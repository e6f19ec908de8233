"""The dataset-adapter registry: ``@register_dataset("konvid_1k")`` on an adapter class, ``get_adapter(name)``."""

from __future__ import annotations

from vqaloop.errors import UserError

_ADAPTERS: dict = {}


def register_dataset(name: str):
    """Class decorator: register one instance of the adapter class under ``name`` (also set as ``cls.name``)."""

    def decorate(cls):
        if name in _ADAPTERS:
            raise ValueError(f"dataset adapter {name!r} registered twice")
        cls.name = name
        _ADAPTERS[name] = cls()
        return cls

    return decorate


def adapter_names() -> list[str]:
    """Every registered dataset adapter, sorted."""
    _load_all()
    return sorted(_ADAPTERS)


def get_adapter(name: str):
    """The adapter registered as ``name``; one UserError line listing the valid names otherwise."""
    _load_all()
    if name not in _ADAPTERS:
        raise UserError(f"unknown dataset adapter {name!r}; valid: {', '.join(sorted(_ADAPTERS))}")
    return _ADAPTERS[name]


def _load_all() -> None:
    """Import the modules that register adapters (kept lazy so the registry module imports nothing heavy)."""
    from vqaloop.datasets import mapped, published  # noqa: F401
