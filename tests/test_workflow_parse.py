"""The workflow's parse is light (issue 23, item 3): a dry run validates the config and plans every job without
loading torch, and the torch-free base-model catalogue it reads agrees with the registered classes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_dry_run_of_the_default_workflow_never_imports_torch():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--quiet"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr, re.M)}
    assert "vqaloop.config" in imported and "vqaloop.models.catalogue" in imported  # the parse did run
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}, "the dry run loaded torch"


def test_every_registered_base_model_is_declared_in_the_catalogue_and_gets_its_facts():
    from vqaloop.models.catalogue import BASE_MODEL_FACTS
    from vqaloop.models.registry import BASE_MODELS

    assert set(BASE_MODELS) == set(BASE_MODEL_FACTS)
    for name, cls in BASE_MODELS.items():
        assert (cls.NAME, cls.ENCODERS, cls.TRAINER) == (name, *BASE_MODEL_FACTS[name].__dict__.values())


def test_an_undeclared_base_model_class_is_refused():
    import pytest

    from vqaloop.models.registry import register_base_model

    with pytest.raises(TypeError, match="not declared"):
        register_base_model("no_such_model")(type("X", (), {}))


def test_the_config_readme_names_every_key_group_of_the_schema():
    import yaml

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    text = (REPO / "config/README.md").read_text()
    groups = {m.group(1) for m in re.finditer(r"`([a-z0-9_]+)`", text)}
    assert set(schema["properties"]) <= groups, sorted(set(schema["properties"]) - groups)
    files = {p.name for p in (REPO / "config").glob("*.yaml")}
    assert files <= {m.group(1) for m in re.finditer(r"`([a-z0-9_]+\.yaml)`", text)}, files


def test_the_config_schema_ships_inside_the_package(tmp_path):
    """A non-editable install validates configs: the schema is package data (config/schema.yaml links to it)."""
    import zipfile

    from vqaloop.schema import SCHEMA_PATH

    assert (REPO / "config/schema.yaml").resolve() == SCHEMA_PATH.resolve()
    import shutil

    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ in it
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("vqaloop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("vqaloop/schema.yaml") == SCHEMA_PATH.read_bytes()


def test_a_command_default_that_a_config_key_also_sets_is_the_schemas():
    """The rules always pass these values (the schema's default when the config is silent); a user calling the
    command directly gets the same value, so the two defaults must not drift apart."""
    import importlib

    from vqaloop.cli import COMMANDS, Parser
    from vqaloop.config import with_defaults

    w2s = with_defaults({"w2s": {"training": {}, "student": {}, "pairs": {}}}, "w2s")
    expected = {
        "w2s-train": {"loss_warmup": w2s["confidence_warmup"], "weight_decay": w2s["training"]["weight_decay"],
                      "warmup": w2s["training"]["warmup"], "hidden": w2s["student"]["hidden"],
                      "layers": w2s["student"]["layers"], "heads": w2s["student"]["heads"]},
        "w2s-pairs": {"source_sigma": w2s["pairs"]["source_sigma"], "single_sigma": w2s["pairs"]["single_sigma"]},
    }  # fmt: skip
    for command, values in expected.items():
        parser = Parser(prog=command)
        importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
        defaults = {a.dest: a.default for a in parser._actions}
        got = {k: float(defaults[k]) if isinstance(defaults[k], str) else defaults[k] for k in values}
        assert got == values, command
