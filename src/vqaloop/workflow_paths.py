"""Where every file of the MDS-VQA DAG lives: one definition used by the Snakemake rules (with wildcard
placeholders such as ``"{dataset}"``) and by the table builder (with concrete values)."""

from __future__ import annotations

from dataclasses import dataclass

SHARED = "shared"  # the "base" of selections that use neither f nor g (shared by every base model)


@dataclass(frozen=True)
class MdsPaths:
    data: str  # corpus root (manifests, oracle, shared features)
    work: str  # intermediate files of this run (models, selections, evaluations)
    base: str  # base model name

    @property
    def root(self) -> str:
        return f"{self.work}/mds/{self.base}"

    def manifest(self, dataset) -> str:
        return f"{self.data}/manifests/{dataset}.csv"

    def oracle(self, dataset) -> str:
        return f"{self.data}/oracle/{dataset}.csv"

    def features(self, dataset, encoder) -> str:
        """Model-independent encoders are shared by all runs; ``base`` is f's own frame embeddings."""
        if encoder == "base":
            return f"{self.root}/features/{dataset}/base.npz"
        return f"{self.data}/features/{dataset}/{encoder}.npz"

    def f_model(self) -> str:
        return f"{self.root}/f/model.pt"

    def f_predictions(self, dataset) -> str:
        return f"{self.root}/f/predictions/{dataset}.csv"

    def f_eval(self) -> str:
        return f"{self.root}/f/eval.csv"

    def oof_errors(self) -> str:
        return f"{self.root}/f/oof_errors.csv"

    def g_model(self, g_id, seed) -> str:
        return f"{self.root}/g/{g_id}/seed{seed}/model.pt"

    def difficulty(self, g_id, seed, dataset) -> str:
        return f"{self.root}/g/{g_id}/seed{seed}/difficulty/{dataset}.csv"

    def selection(self, variant, seed, dataset) -> str:
        return f"{self.root}/select/{variant}/seed{seed}/{dataset}.csv"

    def labels(self, variant, seed, dataset) -> str:
        return f"{self.root}/select/{variant}/seed{seed}/labels/{dataset}.csv"

    def ft_model(self, variant, seed) -> str:
        return f"{self.root}/finetune/{variant}/seed{seed}/model.pt"

    def scoped(self, variant: str) -> MdsPaths:
        """Where a variant's selection lives: selections that use neither f nor g are shared by every base."""
        from vqaloop.variants import MODEL_METHODS, parse_variant

        v = parse_variant(variant)
        if v.needs_g or v.method in MODEL_METHODS or v.encoder == "base":
            return self
        return MdsPaths(self.data, self.work, SHARED)

    def ft_predictions(self, variant, seed, dataset) -> str:
        return f"{self.root}/finetune/{variant}/seed{seed}/predictions/{dataset}.csv"

    def gmad_result(self, seed) -> str:
        return f"{self.root}/gmad/seed{seed}.json"

    def gmad_pairs(self, seed) -> str:
        return f"{self.root}/gmad/seed{seed}_pairs.csv"

    def ft_eval(self, variant, seed) -> str:
        return f"{self.root}/finetune/{variant}/seed{seed}/eval.csv"


@dataclass(frozen=True)
class W2sPaths:
    """Where every file of the W2S-VQA DAG lives (rules use wildcard placeholders, the table builder values)."""

    work: str  # intermediate files of this run

    @property
    def root(self) -> str:
        return f"{self.work}/w2s"

    def metrics(self, dataset) -> str:
        return f"{self.root}/metrics/{dataset}.csv"

    def shaped(self) -> str:
        return f"{self.root}/shaped.csv"

    def teacher(self, teacher) -> str:
        return f"{self.root}/teachers/{teacher}.csv"

    def teacher_fit(self, teacher) -> str:
        return f"{self.root}/teachers/{teacher}.json"

    def anchors(self) -> str:
        return f"{self.root}/anchors.csv"

    def test_set(self, dataset) -> str:
        """The rows W2S-VQA scores on a test set, with their MOS (vqaloop w2s-test-set)."""
        return f"{self.root}/test_sets/{dataset}.csv"

    def targets(self, targetset) -> str:
        """Per-video targets of the pointwise students (vqaloop w2s-targets): teacher_<teacher> or source."""
        return f"{self.root}/targets/{targetset}.csv"

    def pairs(self, pairset, seed) -> str:
        return f"{self.root}/pairs/{pairset}/seed{seed}.csv"

    def student(self, student, seed) -> str:
        return f"{self.root}/students/{student}/seed{seed}/model.pt"

    def student_eval(self, student, seed) -> str:
        return f"{self.root}/students/{student}/seed{seed}/eval.csv"

    def student_scores(self, student, seed) -> str:
        return f"{self.root}/students/{student}/seed{seed}/scores.csv"
