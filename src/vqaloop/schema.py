"""Checking a document against the package's JSON schema (``schema.yaml``, linked as ``config/schema.yaml``): one
``UserError`` line naming the offending key (``corpus.clip.fps``) and what was expected.

The bottom of the config layer: ``vqaloop.config`` validates a whole run config with it (then the checks a schema
cannot express, which know the models), and a tool that reads one section of a config (``vqaloop plan-memory``'s
``paper_scale``) validates only that section with ``validate_keys``.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from vqaloop.errors import UserError

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")  # package data; config/schema.yaml links to it


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def describe_error(err: jsonschema.ValidationError) -> str:
    """One line naming the key and the problem, for the most useful kinds of schema error."""
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        valid = sorted(err.schema.get("properties", {}))
        prefix = f"{key}." if err.absolute_path else ""
        hint = f" (valid keys: {', '.join(valid)})" if valid else ""
        return f"unknown key {prefix}{extra[0] if extra else '?'}{hint}"
    if err.validator == "required":
        return f"key {key}: {err.message}"
    if err.validator == "type":
        return f"key {key}: {err.instance!r} is not of type {err.validator_value}"
    if err.validator == "enum":
        return f"key {key}: {err.instance!r} is not one of {err.validator_value}"
    return f"key {key}: {err.message}"


def validate_keys(config: dict, keys: list[str], source: str, schema_path: Path = SCHEMA_PATH) -> None:
    """Only the top-level ``keys`` of ``config`` against the schema (a tool that reads one section of a config,
    e.g. ``vqaloop plan-memory``'s ``paper_scale``); one line naming the key otherwise."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    part = {"type": "object", "properties": {k: schema["properties"][k] for k in keys},
            "definitions": schema.get("definitions", {})}  # fmt: skip
    errors = jsonschema.Draft7Validator(part).iter_errors({k: config[k] for k in keys if k in config})
    errors = sorted(errors, key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        raise UserError(f"{source}: {describe_error(errors[0])}")
