# Frame-level features per dataset: every available encoder from one decode of each video, the EfficientNet
# trunk run once for both its pooled features and FreeSel's patterns (shared by every run on the same corpus).
# W2S-VQA's candidate pool: only its shaped subset (the other candidates are never read).


rule features:
    input:
        unpack(features_inputs),
    output:
        [f"{DATA}/features/{{dataset}}/{e}.npz" for e in FEATURE_ENCODERS],
    log:
        f"{LOGS}/features/{{dataset}}.log",
    benchmark:
        f"{BENCH}/features/{{dataset}}.tsv"
    conda:
        CONDA_ENV
    threads: THREADS
    params:
        data=lambda wc, input: corpus_root(input.manifest),
        out=lambda wc, output: Path(output[0]).parent,
        encoders=" ".join(FEATURE_ENCODERS),
        options=as_json(
            {e: FEATURES["encoders"].get(e) or {} for e in FEATURE_ENCODERS}
        ),
        frames=FEATURES["frames"],
        only=lambda wc, input: (
            f"--only-ids {input.only}" if "only" in input.keys() else ""
        ),
    shell:
        recorded(
            "python -m vqaloop features --manifest {input.manifest} --data-root {params.data}"
            " --encoders {params.encoders} --options {params.options} --frames {params.frames}"
            " {params.only} --threads {threads} --out-dir {params.out} > {log} 2>&1"
        )
