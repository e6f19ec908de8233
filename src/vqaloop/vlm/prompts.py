"""The structured text prompts of MDS-VQA for the VLM quality model f and the VLM failure predictor g.

- ``QUALITY_PROMPT``: MDS-VQA Table 10 (training and scoring f, VisualQuality-R1): think, then one score in
  [1, 5] in ``<answer></answer>`` tags.
- ``FAILURE_PROMPT``: MDS-VQA Table 1 (training g): one difficulty rating in [1, 5] in ``<answer></answer>``.

Deterministic scoring (``vqaloop.vlm.scoring.expected_scores``) opens the assistant turn and appends
``answer_prefix(name)`` so the next token is the score's leading digit. For f the prefix is an empty think block
then ``<answer>``, which keeps the ``<think>..</think><answer>..</answer>`` layout Table 10 asks for (and
VisualQuality-R1's format reward trains) while skipping the sampled reasoning; for g it is ``<answer>``.
"""

from __future__ import annotations

from vqaloop.errors import UserError

# MDS-VQA Table 10 (f), verbatim apart from the line breaks.
QUALITY_PROMPT = (
    "You are doing a video quality assessment task.\n"
    "Here is the question: What is your overall rating on the quality of this video? The rating should be a "
    "float between 1 and 5, rounded to two decimal places, with 1 representing very poor quality and 5 "
    "representing excellent quality.\n"
    "First output the thinking process in <think> </think> tags and then output the final answer with only one "
    "score in <answer> </answer> tags."
)

# MDS-VQA Table 1 (g), verbatim apart from the line breaks.
FAILURE_PROMPT = (
    "You are doing a video quality assessment task.\n"
    "Here is the question: Assess how difficult it is to evaluate this video's quality. The difficulty rating "
    "should be a float between 1 and 5, rounded to two decimal places, with 1 representing very easy and 5 "
    "representing very difficult.\n"
    "Please only output the final answer with only one score in the <answer> </answer> tags."
)

PROMPTS = {"quality": QUALITY_PROMPT, "failure": FAILURE_PROMPT}
ANSWER_PREFIXES = {"quality": "<think>\n</think>\n<answer>", "failure": "<answer>"}
SCORE_TOKENS = ("1", "2", "3", "4", "5")  # the score's leading digit; expectation over these (scoring.py)


def prompt_text(name: str) -> str:
    """The prompt called ``name`` ("quality" = Table 10, "failure" = Table 1)."""
    if name not in PROMPTS:
        raise UserError(f"prompt: {name!r} is not one of {', '.join(PROMPTS)}")
    return PROMPTS[name]


def answer_prefix(name: str) -> str:
    """What deterministic scoring appends after the opened assistant turn for the prompt called ``name``."""
    if name not in ANSWER_PREFIXES:
        raise UserError(f"prompt: {name!r} is not one of {', '.join(ANSWER_PREFIXES)}")
    return ANSWER_PREFIXES[name]


def check_answer_tags(template: str, where: str) -> str:
    """``template`` if it asks for the answer in ``<answer> </answer>`` tags; else UserError naming ``where``.

    Answer parsing (SPEC "Answer parsing") reads the last ``<answer>...</answer>``: a prompt that does not ask
    for them gives answers that are all unparsable.
    """
    if not isinstance(template, str) or not template.strip():
        raise UserError(f"{where}: empty prompt template")
    missing = [tag for tag in ("<answer>", "</answer>") if tag not in template]
    if missing:
        raise UserError(f"{where}: prompt template does not ask for the answer in {' and '.join(missing)} tags")
    return template
