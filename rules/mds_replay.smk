# MDS-VQA's YouTube-SFV SDR cells from the authors' published outputs (vqaloop mds-replay; README "MDS-VQA on the
# authors' outputs"): their g as selection inputs, vqaloop select's lambda-0 picks from it, then the cells beside the
# printed values and the central claim against random draws on their human MOS. No video is read. Without the
# release folder (config mds_replay.release_dir) the table says where to get it; nothing else depends on it.


if REPLAY_FILES:

    rule mds_replay_inputs:
        input:
            **REPLAY_FILES,
        output:
            difficulty=f"{REPLAY_WORK}/g_difficulty.csv",
            ids=f"{REPLAY_WORK}/pool_ids.npz",
        log:
            f"{LOGS}/mds_replay/inputs.log",
        benchmark:
            f"{BENCH}/mds_replay/inputs.tsv"
        conda:
            CONDA_ENV
        params:
            release=replay_release,
        shell:
            recorded(
                "python -m vqaloop mds-replay-inputs --release {params.release}"
                " --difficulty {output.difficulty} --ids {output.ids} > {log} 2>&1"
            )

    rule mds_replay_select:
        input:
            difficulty=rules.mds_replay_inputs.output.difficulty,
            ids=rules.mds_replay_inputs.output.ids,
        output:
            f"{REPLAY_WORK}/lambda0.csv",
        log:
            f"{LOGS}/mds_replay/select_lambda0.log",
        benchmark:
            f"{BENCH}/mds_replay/select_lambda0.tsv"
        conda:
            CONDA_ENV
        params:
            budget=REPLAY["budget"],
        shell:
            recorded(
                "python -m vqaloop select --method mds --lambda 0 --budget {params.budget}"
                " --features {input.ids} --difficulty {input.difficulty} --out {output} > {log} 2>&1"
            )


rule mds_replay:
    input:
        **REPLAY_FILES,
        lambda0=[f"{REPLAY_WORK}/lambda0.csv"] if REPLAY_FILES else [],
        paper=[f"results/paper/{t}.csv" for t in REPLAY_PAPER_TABLES],
    output:
        long=report(
            f"{RESULTS}/tables/mds_replay.csv",
            caption="../report/mds_replay.rst",
            category="MDS-VQA",
            subcategory="On the authors' outputs",
            labels={"table": "mds_replay", "file": "long"},
        ),
        wide=report(
            f"{RESULTS}/tables/mds_replay_wide.csv",
            caption="../report/mds_replay.rst",
            category="MDS-VQA",
            subcategory="On the authors' outputs",
            labels={"table": "mds_replay", "file": "wide"},
        ),
        paper=report(
            f"{RESULTS}/tables/mds_replay_vs_paper.csv",
            caption="../report/mds_replay.rst",
            category="MDS-VQA",
            subcategory="On the authors' outputs",
            labels={"table": "mds_replay", "file": "ours beside the paper's"},
        ),
        claims=report(
            f"{RESULTS}/tables/mds_replay_claims.csv",
            caption="../report/mds_replay_claims.rst",
            category="Claims",
            subcategory="On the authors' outputs",
            labels={"table": "mds_replay_claims", "file": "csv"},
        ),
    log:
        f"{LOGS}/mds_replay/replay.log",
    benchmark:
        f"{BENCH}/mds_replay/replay.tsv"
    conda:
        CONDA_ENV
    params:
        release=replay_release,
        lambda0=lambda wc, input: f"--lambda0 {input.lambda0}" if input.lambda0 else "",
        paper=lambda wc, input: Path(input.paper[0]).parent,
        settings=(
            f"--budget {REPLAY['budget']} --draws {REPLAY['draws']} --tie-orders {REPLAY['tie_orders']}"
            f" --mos-bins {REPLAY['mos_bins']} --level {REPLAY['level']} --seed {config['seed']}"
        ),
    shell:
        recorded(
            "python -m vqaloop mds-replay --release {params.release} {params.lambda0} {params.settings}"
            " --paper-root {params.paper} --out {output.long} --claims {output.claims} > {log} 2>&1"
        )
