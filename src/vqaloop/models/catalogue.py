"""What the workflow and the config validation know of each base model f, without importing torch (issue 23, item 3).

A dry run of the workflow validates the config and asks each base model for the feature encoders it reads and for
its trainer; importing the models themselves would load torch (several seconds, 600 MB) for two tuples. This table is
the only place those facts are written: ``models.registry.register_base_model`` gives every registered class its
``ENCODERS`` and ``TRAINER`` from here and refuses a class this table does not declare (and
``tests/test_models.py`` that a declared name has no class).
"""

from __future__ import annotations

from dataclasses import dataclass

from vqaloop.errors import UserError


@dataclass(frozen=True)
class BaseModelFacts:
    encoders: tuple[str, ...]  # the feature encoders its inputs are made of (the workflow's inputs)
    trainer: str = ""  # "grpo": trained by training.vlm_grpo (answers sampled from a VLM); "": the MOS regression loops


BASE_MODEL_FACTS: dict[str, BaseModelFacts] = {
    "effnet_motion": BaseModelFacts(("efficientnet_lite0", "motion")),  # models/effnet_head.py
    "cnn_frames": BaseModelFacts(("thumbnail",)),  # models/alternatives.py (MDS-VQA Table 9: UVQ's analogue)
    "transformer_tokens": BaseModelFacts(("efficientnet_lite0", "motion")),  # models/alternatives.py (ModularBVQA's)
    "visualquality_r1": BaseModelFacts(("frames",), trainer="grpo"),  # models/vlm.py (VisualQuality-R1)
}


def base_model_facts(name: str) -> BaseModelFacts:
    if name not in BASE_MODEL_FACTS:
        raise UserError(f"unknown base model {name!r}; valid: {sorted(BASE_MODEL_FACTS)}")
    return BASE_MODEL_FACTS[name]


def base_model_names() -> list[str]:
    """Every base model, sorted."""
    return sorted(BASE_MODEL_FACTS)


def model_encoders(name: str) -> tuple[str, ...]:
    """The feature encoders base model ``name`` reads."""
    return base_model_facts(name).encoders


def is_grpo(name: str) -> bool:
    """Whether base model ``name`` is trained by GRPO (a VLM: f's and g's answers are sampled)."""
    return base_model_facts(name).trainer == "grpo"
