"""Checks of a Slurm run, made when the workflow starts (before any job is submitted).

`profiles/slurm` submits every job through snakemake-executor-plugin-slurm. Its partition comes from the
environment (``VQALOOP_SLURM_PARTITION``, read by the profile's ``default-resources``); an unset variable would
otherwise reach ``sbatch -p '$VQALOOP_SLURM_PARTITION'`` and fail job by job, or the plugin would silently fall
back to the cluster's default partition. `check_slurm_workflow` turns that into one line before any job starts.

GPU rules ask for GPUs through the plugin's resources: ``gpu`` (a count, becomes ``sbatch --gpus=N``) and
``gpu_model`` (becomes ``--gpus=MODEL:N``); `slurm_gpu_model` reads the model from ``VQALOOP_SLURM_GPU_MODEL``.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping

from vqaloop.errors import UserError

PARTITION_ENV = "VQALOOP_SLURM_PARTITION"
GPU_MODEL_ENV = "VQALOOP_SLURM_GPU_MODEL"
# the plugin's own check of a GPU model (snakemake_executor_plugin_slurm.utils.set_gres_string)
GPU_MODEL_PATTERN = re.compile(r"[A-Za-z0-9_.]+")


def resource_value(raw: object, env: Mapping[str, str]) -> object:
    """A profile resource as Snakemake evaluates it: environment variables expanded, then a Python literal
    ("'gpu'" -> "gpu", "2" -> 2) or else the plain text ("gpu-a100")."""
    if not isinstance(raw, str):
        return raw
    text = expand_vars(raw, env)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """os.path.expandvars against ``env``: $NAME and ${NAME} replaced when set, left as they are when unset."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return re.sub(r"\$(?:(\w+)|\{([^}]*)\})", replace, text)


def partition_problem(raw: object, env: Mapping[str, str]) -> str | None:
    """Why a ``slurm_partition`` resource names no partition (None when it names one)."""
    if raw is None:
        return "sets no slurm_partition"
    value = resource_value(raw, env)
    if value is None or str(value).strip() == "":
        return "sets an empty slurm_partition"
    unset = re.findall(r"\$(?:(\w+)|\{([^}]*)\})", str(value))
    if unset:
        name = unset[0][0] or unset[0][1]
        return f"reads slurm_partition from ${name}, which is not set"
    return None


def check_slurm_profile(
    default_resources: Mapping[str, object],
    set_resources: Mapping[str, Mapping[str, object]] | None = None,
    partition_config: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """UserError (one line) unless every job of a Slurm run has a partition.

    ``default_resources`` / ``set_resources``: the raw profile values (name -> text as written, rule -> name ->
    text); ``partition_config``: the plugin's --slurm-partition-config file (it then picks partitions itself).
    """
    env = os.environ if env is None else env
    fix = (
        f"export {PARTITION_ENV}=<partition> (sinfo -s lists them) before snakemake --profile profiles/slurm,"
        " or set default-resources: slurm_partition in the profile"
    )
    for rule, resources in sorted((set_resources or {}).items()):
        if "slurm_partition" in resources and (problem := partition_problem(resources["slurm_partition"], env)):
            raise UserError(f"Slurm profile: set-resources of rule {rule} {problem}: {fix}")
    if partition_config or env.get("SNAKEMAKE_SLURM_PARTITIONS"):
        return
    problem = partition_problem(default_resources.get("slurm_partition"), env)
    if problem:
        raise UserError(f"Slurm profile: default-resources {problem}: {fix}")


def raw_resources(resources: Mapping[str, object] | None) -> dict[str, object]:
    """Snakemake's parsed resources (name -> Resource) back to the text the profile wrote."""
    return {name: getattr(value, "raw", value) for name, value in (resources or {}).items()}


def check_slurm_workflow(workflow) -> None:
    """`check_slurm_profile` on a running Snakemake workflow; does nothing unless its executor is "slurm".

    Call it from an ``onstart:`` handler (the executor is known there, jobs are not yet submitted; dry runs and
    the jobs' own Snakemake processes, executor "slurm-jobstep", never reach it)."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or plugin.name != "slurm":
        return
    settings = workflow.resource_settings
    overwrite = {rule: raw_resources(resources) for rule, resources in (settings.overwrite_resources or {}).items()}
    check_slurm_profile(
        raw_resources(settings.default_resources),
        overwrite,
        partition_config=getattr(workflow.executor_settings, "partition_config", None),
    )


def slurm_gpu_model(env: Mapping[str, str] | None = None) -> str:
    """The GPU model GPU rules ask Slurm for (``gpu_model`` resource; "" = any model): $VQALOOP_SLURM_GPU_MODEL."""
    env = os.environ if env is None else env
    model = env.get(GPU_MODEL_ENV, "").strip()
    if model and not GPU_MODEL_PATTERN.fullmatch(model):
        raise UserError(f"{GPU_MODEL_ENV}={model!r} is not a Slurm GPU type (letters, digits, '_' and '.' only)")
    return model
