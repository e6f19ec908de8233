"""Where the positive controls' files live: one definition used by ``rules/controls.smk`` (with wildcard placeholders)
and by ``vqaloop control-table`` (with values), like ``vqaloop.workflow_paths`` for the papers' DAGs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ControlPaths:
    """Where the positive controls' files live (issue 21; ``rules/controls.smk``, ``vqaloop.controls``). ``kind``:
    planted or twin (MDS-VQA), planted, twin or ceiling (W2S-VQA); ``method``: a control's selection (mds,
    lambda_0, random); ``student``: student (the ensemble's pairs, W2S Sec. 4.1.2) or student_mean (the teachers'
    mean as one teacher)."""

    work: str  # intermediate files of this run

    @property
    def root(self) -> str:
        return f"{self.work}/controls"

    def mds_manifest(self, kind, dataset) -> str:
        """The target's manifest with the oracle's test MOS (vqaloop control-mds)."""
        return f"{self.root}/mds/{kind}/manifests/{dataset}.csv"

    def mds_oracle(self, kind, dataset) -> str:
        return f"{self.root}/mds/{kind}/oracle/{dataset}.csv"

    def mds_planted(self, kind) -> str:
        return f"{self.root}/mds/{kind}/planted.csv"

    def mds_difficulty(self, kind, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/difficulty.csv"

    def mds_selection(self, kind, method, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/{method}/selection.csv"

    def mds_labels(self, kind, method, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/{method}/labels.csv"

    def mds_model(self, kind, method, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/{method}/model.pt"

    def mds_eval(self, kind, method, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/{method}/eval.csv"

    def mds_predictions(self, kind, method, seed) -> str:
        return f"{self.root}/mds/{kind}/seed{seed}/{method}/predictions.csv"

    def w2s_heldout(self) -> str:
        """The shaped pool's videos outside D(1) with their hidden MOS (a test set of the student's distribution)."""
        return f"{self.root}/w2s/heldout.csv"

    def w2s_raw(self, kind, seed, teacher) -> str:
        """A teacher's raw scores (vqaloop control-w2s); teacher ``mean``: the teachers' mean score."""
        return f"{self.root}/w2s/{kind}/seed{seed}/raw/teacher{teacher}.csv"

    def w2s_teacher(self, kind, seed, teacher) -> str:
        """A teacher on the MOS scale (vqaloop w2s-teacher); teacher ``mean``: the ensemble as one teacher."""
        return f"{self.root}/w2s/{kind}/seed{seed}/teachers/teacher{teacher}.csv"

    def w2s_pairs(self, kind, student, seed) -> str:
        return f"{self.root}/w2s/{kind}/seed{seed}/{student}/pairs.csv"

    def w2s_student(self, kind, student, seed) -> str:
        return f"{self.root}/w2s/{kind}/seed{seed}/{student}/model.pt"

    def w2s_eval(self, kind, student, seed) -> str:
        return f"{self.root}/w2s/{kind}/seed{seed}/{student}/eval.csv"

    def w2s_scores(self, kind, student, seed) -> str:
        return f"{self.root}/w2s/{kind}/seed{seed}/{student}/scores.csv"
