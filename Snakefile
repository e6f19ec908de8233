# vqaloop: every table of MDS-VQA and W2S-VQA as one DAG. Logic lives in src/vqaloop; rules call its CLI.
# Run from the repository root:  snakemake --cores all   (the Makefile's `make demo` does it in .venv)


# Snakemake's scheduler keeps one pending re-planning timer, not one more per finished job (vqaloop.scheduling).
from vqaloop.scheduling import one_replanning_timer

one_replanning_timer()


# The embedded default, unless --configfile names another (merging the two would mix their datasets).
if not config:

    configfile: "config/config.yaml"


# The HTML report (snakemake --report; `make report`): captions in report/, grouped by paper and table.
report: "report/workflow.rst"


include: "rules/report.smk"
include: "rules/common.smk"


if HAS_MDS:

    include: "rules/mds_common.smk"


if HAS_W2S:

    include: "rules/w2s_common.smk"


include: "rules/corpus.smk"


if HAS_MDS:

    include: "rules/features.smk"
    include: "rules/base_model.smk"
    include: "rules/failure_predictor.smk"
    include: "rules/selection.smk"
    include: "rules/finetune.smk"
    include: "rules/gmad.smk"


if HAS_W2S:

    include: "rules/w2s.smk"


include: "rules/tables.smk"


# positive controls (README "Positive controls"): with a controls section and a paper's section
HAS_CONTROLS = "controls" in config and (HAS_MDS or HAS_W2S)
if HAS_CONTROLS:

    include: "rules/controls_common.smk"
    include: "rules/controls.smk"


include: "rules/claims.smk"


if HAS_REPLAY:

    include: "rules/mds_replay.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d+",


if HAS_MDS:

    wildcard_constraints:
        variant=VARIANT_PATTERN,
        seed=r"\d+",
        g=G_PATTERN,
        encoder="|".join(FEATURES["encoders"]),
        base="|".join([*BASES, SHARED]),


if HAS_W2S:

    wildcard_constraints:
        teacher="|".join(W2S_TEACHERS),
        student="|".join(RECIPES),
        pairset="|".join(PAIRSETS),
        stage="2|3",


# profiles/slurm: a partition must be set (vqaloop.cluster). The executor is known only once the run starts, so
# the check is an onstart handler: after the DAG is built, before any job is submitted (skipped by dry runs).
onstart:
    from vqaloop.cluster import check_slurm_workflow

    try:
        check_slurm_workflow(workflow)
    except UserError as err:
        sys.stderr.write(f"vqaloop: error: {err}\n")
        sys.exit(2)


rule all:
    default_target: True
    input:
        rules.corpus.input,
        rules.mds_tables.input if HAS_MDS else [],
        rules.w2s_tables.input if HAS_W2S else [],
        rules.claims.output,
        rules.mds_replay.output if HAS_REPLAY else [],
        rules.controls.input if HAS_CONTROLS else [],
