# Config validation, wildcard constraints and path helpers shared by every rule file.
import json
import shlex
import shutil
import sys
from pathlib import Path

from vqaloop.config import validate_config, with_defaults
from vqaloop.errors import UserError

try:
    validate_config(config, source="config")
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)

# The conda environment of every job under --use-conda (the Makefile's .venv otherwise).
CONDA_ENV = "../envs/vqaloop.yaml"
DATA = config["data_root"]
RUN = config["run"]
RESULTS = f"{config['results_root']}/{RUN}"
LOGS = f"logs/{RUN}"
BENCH = f"{RESULTS}/benchmarks"
CORPUS = config["corpus"]
DATASETS = list(CORPUS["datasets"])
SHARDS = list(range(CORPUS["shards"]))
# The papers' own datasets, read by adapters (config/paper.yaml), beside the rendered ones (the embedded corpus).
ADAPTED = [d for d, spec in CORPUS["datasets"].items() if "adapter" in spec]
RENDERED = [d for d in DATASETS if d not in ADAPTED]


def one_of(names):
    """A wildcard pattern matching exactly these names (none: a pattern that matches nothing)."""
    return "|".join(names) if names else "(?!x)x"


ADAPTED_PATTERN, RENDERED_PATTERN = one_of(ADAPTED), one_of(RENDERED)


def dataset_videos(dataset):
    """The rendered shards holding a dataset's videos (none for an adapted dataset: its videos are
    the user's files, named by absolute paths in its manifest)."""
    if dataset in ADAPTED:
        return []
    return [f"{DATA}/{dataset}/shard{s}" for s in SHARDS]


def adapter_args(dataset):
    """The `vqaloop adapt` arguments of one adapted dataset (its config block): adapter, root, role."""
    spec = CORPUS["datasets"][dataset]
    adapter = spec["adapter"]
    metadata = f" --metadata {adapter['metadata']}" if adapter.get("metadata") else ""
    test = spec.get("splits", {}).get("test", 0.2)
    return (f"--adapter {adapter['name']} --root {adapter['root']}{metadata} --role {spec['role']}"
            f" --test-fraction {test}")  # fmt: skip


def corpus_root(path):
    """The corpus root of a file inside it (manifests/, plans/ and oracle/ sit directly below the root)."""
    path = path if isinstance(path, str) else path[0]
    return str(Path(path).parent.parent)


def plan_slice(dataset):
    """The keys of a dataset's config that decide its plan (names and paper keys do not)."""
    spec = CORPUS["datasets"][dataset]
    keys = ("recipe", "versions", "include_pristine", "splits", "contents_from")
    return {k: spec[k] for k in keys if k in spec}


def uses_family(dataset, family):
    """Whether a dataset's recipe can apply a distortion family (grid axes, ladder families, capture chains)."""
    recipe = CORPUS["datasets"][dataset].get("recipe", {})
    if recipe.get("type") == "capture":
        return family in (
            "h264",
            "jitter",
            "blur",
            "darken",
            "brighten",
            "noise",
            "resize",
        )
    return family in recipe.get("axes", {}) or family in recipe.get("families", [])


def codec_args(dataset):
    """The render's distortion settings: the x265 preset, for the datasets that encode H.265 only, and a random
    jitter crop (corpus.jitter_crop; the default fixed crop passes nothing), for the datasets that jitter only (an
    edit reruns no other render)."""
    args = []
    if uses_family(dataset, "h265"):
        args.append(f"--x265-preset {CORPUS.get('x265_preset', 'veryslow')}")
    if uses_family(dataset, "jitter") and CORPUS.get("jitter_crop", "fixed") != "fixed":
        args.append(f"--jitter-crop {CORPUS['jitter_crop']}")
    return " ".join(args)


def features_root(files):
    """The features folder of <root>/<dataset>/<encoder>.npz inputs (derived from the inputs, as --lint asks)."""
    return str(Path(files[0]).parent.parent)


# Every job ends by recording the SHA-256 of what it wrote (vqaloop record-job): results/<run>/checksums/<job>.json,
# <job> being its log path below logs/<run>; `vqaloop compare-runs` reads them to say where two runs first part.
CHECKSUMS = f"{RESULTS}/checksums"
DISPATCH = with_defaults(config, "dispatch")  # the schema holds the default (portable)


def recorded(command):
    """A rule's shell: under the run's CPU-dispatch pin (config key `dispatch`, vqaloop.dispatch: a change reruns
    every job, since it changes their bits), followed by its checksum record (appended to the job's log).
    """
    return (f"export VQALOOP_DISPATCH={DISPATCH}; {command} && python -m vqaloop record-job --log {{log}}"
            f" --logs-root {LOGS} --into {CHECKSUMS} --inputs {{input:q}} --outputs {{output:q}} >> {{log}} 2>&1")  # fmt: skip


def batch(commands):
    """The commands of one `vqaloop batch` job, each a shell-quoted argument (params hold them: an edit of any
    command's arguments reruns the job)."""
    return " ".join(shlex.quote(c) for c in commands)


def merged_inputs(dicts):
    """Named inputs of several commands as one job's: each name -> sorted unique files."""
    out = {}
    for d in dicts:
        for name, value in d.items():
            out.setdefault(name, set()).update(
                value if isinstance(value, list) else [value]
            )
    return {name: sorted(files) for name, files in out.items()}


def as_json(obj):
    """A config slice as a shell-quoted JSON argument (params hold the slice, so edits rerun the rule)."""
    quoted = json.dumps(obj, sort_keys=True).replace("'", "'\\''")
    return f"'{quoted}'"


# ---- GPUs and the container image (config keys gpu, container; src/vqaloop/devices.py) ----
# The GPU rules: those that run a base model, g, fine-tuning or a W2S student. Each sets `resources: gpu=`
# with gpus(), `container:` with gpu_container() and wraps its shell in gpu_shell(); every other rule runs on the
# host CPU (unless container.rules is "all"). select and w2s_teacher run a model for some wildcards only.
GPU_RULES = ("train_base", "oof_errors", "score_base", "base_features", "train_g", "difficulty", "select",
             "finetune", "w2s_teacher", "w2s_mine", "w2s_student", "w2s_scores")  # fmt: skip
GPU = with_defaults(config, "gpu")  # defaults: config/schema.yaml
GPU_ENABLED = GPU["enabled"]
GPU_LOCKS = (
    GPU.get("lock_dir") or f"{config['work_root']}/.gpu_slots"
)  # no schema default: it derives from work_root
CONTAINER = with_defaults(config, "container")
IMAGE = CONTAINER.get("image")  # none: no image
CONTAINER_ALL = CONTAINER["rules"] == "all"
THREADS = with_defaults(config, "threads")  # threads per job


def gpus(needs=None):
    """A GPU rule's `resources: gpu=`: gpu.per_job when GPUs are enabled (0 for wildcards where ``needs``
    says no model runs), else 0."""
    if not GPU_ENABLED:
        return 0
    per_job = GPU["per_job"]
    return per_job if needs is None else (lambda wc: per_job if needs(wc) else 0)


def gpu_model(needs=None):
    """A GPU rule's `gpu_model` resource for the Slurm executor (sbatch --gpus=<model>:N): $VQALOOP_SLURM_GPU_MODEL
    when GPUs are enabled ("" = any model, and for wildcards where ``needs`` says no model runs).
    """
    from vqaloop.cluster import slurm_gpu_model

    model = slurm_gpu_model() if GPU_ENABLED else ""
    if not model or needs is None:
        return model
    return lambda wc: model if needs(wc) else ""


def gpu_container(needs=None):
    """A GPU rule's `container:` (used under --use-apptainer only): the configured image, none where ``needs``
    says no model runs (that job stays on the host)."""
    if not IMAGE:
        return None
    return IMAGE if needs is None else (lambda wc: IMAGE if needs(wc) else None)


def gpu_shell(command):
    """A GPU rule's shell: through `vqaloop gpu-run` (the job's own device(s), resources.gpu of them) when GPUs
    are enabled; the command itself otherwise, so the CPU default's recorded code (a rerun trigger) is unchanged.
    """
    if not GPU_ENABLED:
        return command
    return f"python -m vqaloop gpu-run --count {{resources.gpu}} --lock-dir {GPU_LOCKS} -- {command}"


def select_runs_model(wc):
    """A selection variant that runs f (MC dropout, noise stability)."""
    return parse_variant(wc.variant).method in MODEL_METHODS


def teacher_runs_model(wc):
    """A W2S teacher that is a base model (classical teachers run on the CPU)."""
    return W2S["teachers"][wc.teacher]["kind"] == "base_model"


def check_container_setup():
    """Under --use-apptainer / --use-singularity, an apptainer binary and an existing image, before any job."""
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    if not IMAGE:
        raise UserError("--use-singularity/--use-apptainer: config key container.image is not set (the image the "
                        "GPU rules run in; see profiles/apptainer)")  # fmt: skip
    if not (shutil.which("apptainer") or shutil.which("singularity")):
        raise UserError("--use-singularity/--use-apptainer: no apptainer or singularity executable on PATH (install "
                        "Apptainer, or run without the flag: every job then runs on the host)")  # fmt: skip
    if "://" not in IMAGE and not Path(IMAGE).is_file():
        raise UserError(f"config key container.image: no such image file {IMAGE!r}")


try:
    check_container_setup()
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)


if IMAGE and CONTAINER_ALL:

    container: IMAGE


# ---- MDS-VQA on the authors' published outputs (config mds_replay; rules/mds_replay.smk) ----
HAS_REPLAY = "mds_replay" in config
if HAS_REPLAY:
    from vqaloop.config import with_defaults
    from vqaloop.datasets.mds_release import release_paths

    REPLAY = with_defaults(config, "mds_replay")
    REPLAY_WORK = f"{config['work_root']}/{RUN}/mds_replay"
    # the release's files by role (its inputs: an edit of one reruns the replay); none without the folder
    REPLAY_FILES = (
        {role: str(path) for role, path in release_paths(REPLAY["release_dir"]).items()}
        if Path(REPLAY["release_dir"]).is_dir()
        else {}
    )

    def replay_release(wc, input):
        """The release folder, derived from its pool MOS list where the release is there (as --lint asks)."""
        from vqaloop.datasets.mds_release import release_root

        return (
            str(release_root(input.pool_mos)) if REPLAY_FILES else REPLAY["release_dir"]
        )

    # the published tables the replay's cells are compared with (vqaloop.tables.mds_replay.PAPER_CELLS)
    REPLAY_PAPER_TABLES = [
        "mds_table2",
        "mds_table3",
        "mds_table5",
        "mds_table6",
        "mds_table7",
        "mds_table8",
    ]


# ---- which paper each configuration runs: its command builders live in rules/mds_common.smk and
# rules/w2s_common.smk (the Snakefile includes them right after this file) ----
HAS_MDS = "mds" in config
HAS_W2S = "w2s" in config  # W2S-VQA reuses the MDS base models as teachers
