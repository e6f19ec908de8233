# Frame-level features per dataset and encoder (shared by every run on the same corpus).


rule features:
    input:
        manifest=f"{DATA}/manifests/{{dataset}}.csv",
    output:
        f"{DATA}/features/{{dataset}}/{{encoder}}.npz",
    log:
        f"{LOGS}/features/{{dataset}}_{{encoder}}.log",
    benchmark:
        f"{BENCH}/features/{{dataset}}_{{encoder}}.tsv"
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    # features.batch bounds memory only (the features do not depend on it: tests/test_features.py), so it is a
    # resource, not a param: editing it reruns nothing
    resources:
        frames_per_call=FEATURES["batch"],
    params:
        data=lambda wc, input: corpus_root(input.manifest),
        frames=FEATURES["frames"],
        options=lambda wc: encoder_options(wc.encoder),
    shell:
        "python -m vqaloop features --manifest {input.manifest} --data-root {params.data}"
        " --encoder {wildcards.encoder} {params.options} --frames {params.frames}"
        " --batch {resources.frames_per_call} --threads {threads} --out {output} > {log} 2>&1"
