"""The dataset-adapter registry: ``@register_dataset("konvid_1k")`` on an adapter class, ``get_adapter(name)``."""

from __future__ import annotations

from vqaloop.registry import Registry

# one instance of each adapter class; the modules that register them are imported on the first lookup
ADAPTERS: Registry = Registry("dataset adapter", ("vqaloop.datasets.mapped", "vqaloop.datasets.published"))


def register_dataset(name: str):
    """Class decorator: register one instance of the adapter class under ``name`` (also set as ``cls.name``)."""

    def decorate(cls):
        cls.name = name
        ADAPTERS.register(name, cls())
        return cls

    return decorate


def adapter_names() -> list[str]:
    """Every registered dataset adapter, sorted."""
    return ADAPTERS.names()


def get_adapter(name: str):
    """The adapter registered as ``name``; one UserError line listing the valid names otherwise."""
    return ADAPTERS.get(name)
