"""Positive controls (issue 21): the real MDS-VQA and W2S-VQA pipelines run with an oracle whose properties are
known, so each paper's effect must appear if the code is right, each beside a negative twin without the effect.

- ``vqaloop.controls.mds`` (``vqaloop control-mds``): a planted failure of the base model on a cluster of one target
  pool's contents, the oracle labels and a failure predictor that knows the planted errors up to noise;
- ``vqaloop.controls.w2s`` (``vqaloop control-w2s``): weak teachers that are the hidden MOS plus independent noise of a
  known size;
- ``vqaloop.controls.table`` (``vqaloop control-table``): each control's per-seed values (the claims' input).

The selections, the label oracle, fine-tuning, evaluation, the W2S pairs, the student and its soft-comparison scoring
are the project's own commands, run by ``rules/controls.smk``; the verdicts are rows of ``claims.csv``
(``vqaloop.tables.claims.control_claims``).
"""

KINDS = ("planted", "twin")  # the control and its negative twin (the planted effect removed)
