"""Reading a score out of a generated answer (SPEC "Answer parsing"), and counting what could not be read.

``parse_score(text)``: the last ``<answer>(.*?)</answer>`` match, then the first number in it; None when there is
no such tag pair or no number in it. An unparsable answer is counted (``AnswerStats``) and reported, never
replaced by a guessed number (VisualQuality-R1's public code falls back to random.randint(1, 5): not copied).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_score(text: str) -> float | None:
    """The first number inside the last ``<answer>...</answer>`` of ``text``; None if there is none."""
    matches = ANSWER_RE.findall(text or "")
    if not matches:
        return None
    number = NUMBER_RE.search(matches[-1])
    if number is None:
        return None
    value = float(number.group(0))
    return value if value == value and abs(value) != float("inf") else None


@dataclass
class AnswerStats:
    """Counts of parsed and unparsable answers, with a few unparsable examples for the report."""

    parsed: int = 0
    unparsable: int = 0
    examples: list[str] = field(default_factory=list)
    max_examples: int = 3

    def add(self, text: str) -> float | None:
        """Parse one answer and count it; returns the score or None."""
        score = parse_score(text)
        if score is None:
            self.unparsable += 1
            if len(self.examples) < self.max_examples:
                self.examples.append(text[:200])
        else:
            self.parsed += 1
        return score

    def add_all(self, texts: Iterable[str]) -> list[float | None]:
        return [self.add(t) for t in texts]

    @property
    def total(self) -> int:
        return self.parsed + self.unparsable

    @property
    def unparsable_rate(self) -> float:
        return self.unparsable / self.total if self.total else 0.0

    def as_dict(self) -> dict:
        return {"parsed": self.parsed, "unparsable": self.unparsable, "unparsable_rate": self.unparsable_rate}
