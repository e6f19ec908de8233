"""Learning curves of f, g and the W2S teachers against the number of labelled source videos (issue 21, item 3).

    python benchmarks/learning_curves.py                     # after `make demo` (data/corpus, config/config.yaml)
    python benchmarks/learning_curves.py --sizes 64 128 256 512 1024 --seeds 0 1 2

The embedded source (``mds.source``, ugc) has 256 training videos. Sizes below that are seeded subsets of its training
split; larger sources add labelled videos of the same recipe: W2S-VQA's candidate pool (``w2s.pool``: ugc's capture
chains and H.264, on contents no other dataset has; their VMAF MOS sit in the pool's oracle file, which no W2S rule
reads), the videos of its features store (the shaped subset) in a seeded order. Per seed the sets are nested (each
size is a prefix of the next) and never hold a video of ugc's test split or of a target. The extra contents are
Debian wallpapers and lavfi renders, not ugc's mix of photos, animation and camera footage: above 256 the source also
widens.

For each base model (``mds.base`` = f, and the alternative bases, which are also the W2S teachers
minimalisticvqa_vii and fast_vqa beside f's minimalisticvqa_ix), size and seed, trained as the workflow trains it
(``vqaloop.training.base.train_base_model`` with the config's settings, the seed its training seed):

- SRCC on the source's test split (in-domain) and on each target's test split (out of distribution; their mean);
- for f only: g (``mds.default`` loss and rank, ``mds.training.g``) trained on f's in-sample errors, and its
  failure-identification quality: SRCC of g's output with f's true error |f(x) - MOS| (MDS-VQA Eq. 4) over each
  target's pool (the hidden MOS of the oracle files), mean over the targets.

BRISQUE and NIQE learn nothing from the source (their logistic map to the MOS scale is monotone, so their SRCC does
not move with it): no curve. Writes ``benchmarks/results/learning_curves.json`` (every row) and ``.png`` (the curves:
means over seeds, the seeds' spread as bars, a dashed line where the source's own videos end). Not a timed benchmark: the run time per model is recorded for planning.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from argparse import Namespace
from pathlib import Path

from vqaloop.dispatch import pin

DISPATCH = pin()  # before numpy and torch load, as a vqaloop command: the same bits on any AVX2 CPU
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from vqaloop.cli_checks import int_in  # noqa: E402
from vqaloop.cli_checks import seed as seed_type  # noqa: E402
from vqaloop.errors import UserError  # noqa: E402
from vqaloop.io.atomic import figure_writer, text_writer, write_all_atomic  # noqa: E402
from vqaloop.io.paths import check_output_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "learning_curves.json"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--data-root", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument(
        "--sizes",
        type=int_in(2),
        nargs="+",
        default=[64, 128, 256, 512, 1024],
        help="labelled source videos per curve point (at least 2: f's ranking loss needs pairs)",
    )
    parser.add_argument("--seeds", type=seed_type, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", help="base models (default: mds.base and the alternative bases)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def source_order(source: pd.DataFrame, extra: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Labelled source videos in the order a size takes them: the source's training split (seeded order), then the
    extra videos (seeded order). Columns video_id, dataset, mos."""
    rng = np.random.default_rng([seed, 21])
    first = source.iloc[rng.permutation(len(source))]
    second = extra.iloc[rng.permutation(len(extra))]
    return pd.concat([first, second], ignore_index=True)[["video_id", "dataset", "mos"]]


def inputs_of(rows: pd.DataFrame, features_root: Path, model: str) -> torch.Tensor:
    """(N, F, D) inputs of ``rows`` (several datasets: each read from its own features files, rows kept in order)."""
    from vqaloop.models.inputs import feature_paths, load_inputs

    parts, order = [], []
    for dataset, group in rows.groupby("dataset", sort=True):
        parts.append(load_inputs(feature_paths(features_root, str(dataset), model), list(group.video_id)))
        order.append(group.index.to_numpy())
    x = torch.cat(parts)
    return x[torch.from_numpy(np.argsort(np.concatenate(order), kind="stable"))]


def srcc_on(model_ckpt, x: torch.Tensor, mos: np.ndarray) -> float:
    from vqaloop.evaluation.metrics import srcc
    from vqaloop.models.inputs import predict

    return float(srcc(predict(model_ckpt.build(), x), mos))


def learning_rows(args, cfg: dict) -> list[dict]:
    from vqaloop.evaluation.metrics import srcc
    from vqaloop.evaluation.oracle import LabelOracle
    from vqaloop.io.manifest import read_manifest
    from vqaloop.models.inputs import feature_paths, predict
    from vqaloop.training.base import train_base_model
    from vqaloop.training.failure import base_errors, train_failure_predictor

    mds, w2s = cfg["mds"], cfg["w2s"]
    manifests, features, oracles = args.data_root / "manifests", args.data_root / "features", args.data_root / "oracle"
    source = read_manifest(manifests / f"{mds['source']}.csv")
    train, test = source[source.split == "train"], source[source.split == "test"]
    pool_ids = open_ids(feature_paths(features, w2s["pool"], mds["base"])[0])
    labels = LabelOracle(oracles / f"{w2s['pool']}.csv", w2s["pool"]).evaluation_labels()
    extra = pd.DataFrame({"video_id": pool_ids, "dataset": w2s["pool"], "mos": labels.loc[pool_ids].to_numpy()})
    targets = {}
    for d in mds["targets"]:
        m = read_manifest(manifests / f"{d}.csv")
        pool = m[m.split == "pool"].reset_index(drop=True)
        pool_mos = LabelOracle(oracles / f"{d}.csv", d).evaluation_labels().loc[list(pool.video_id)].to_numpy()
        targets[d] = (m[m.split == "test"].reset_index(drop=True), pool, pool_mos)
    known = [mds["base"], *mds.get("alternative_bases", {})]
    models = args.models or known
    unknown = sorted(set(models) - set(known))
    if unknown:
        raise UserError(f"--models: {', '.join(unknown)} not in {args.config}'s mds.base and mds.alternative_bases "
                        f"({', '.join(known)})")  # fmt: skip
    top = len(train) + len(extra)
    sizes = [n for n in args.sizes if n <= top]
    if len(sizes) < len(args.sizes):
        print(f"sizes above {top} skipped: {len(train)} source training videos + {len(extra)} pool videos")
    rows = []
    for model in models:
        training = mds["training"] if model == mds["base"] else mds["alternative_bases"][model]["training"]
        base_cfg, g_cfg = training["base"], training["g"]
        x_test = inputs_of(test.reset_index(drop=True), features, model)
        x_targets = {
            d: (inputs_of(t, features, model), inputs_of(p, features, model)) for d, (t, p, _) in targets.items()
        }
        for seed in args.seeds:
            order = source_order(train, extra, seed)
            x_all = inputs_of(order.iloc[: max(sizes)], features, model)
            for n in sizes:
                start = time.perf_counter()
                x, mos = x_all[:n], torch.tensor(order.mos.to_numpy()[:n], dtype=torch.float32)
                opt = Namespace(epochs=base_cfg["epochs"], lr=base_cfg["lr"], batch=base_cfg["batch"],
                                weight_decay=base_cfg.get("weight_decay", 1e-4), seed=seed)  # fmt: skip
                f = train_base_model(model, x, mos, base_cfg["hidden"], opt)
                row = {"model": model, "size": n, "seed": seed, "extra_videos": max(0, n - len(train)),
                       "in_domain": srcc_on(f, x_test, test.mos.to_numpy())}  # fmt: skip
                for d, (t, _p, _m) in targets.items():
                    row[f"ood_{d}"] = srcc_on(f, x_targets[d][0], t.mos.to_numpy())
                row["ood_mean"] = float(np.mean([row[f"ood_{d}"] for d in targets]))
                if model == mds["base"]:
                    g_opt = Namespace(epochs=g_cfg["epochs"], lr=g_cfg["lr"], batch=g_cfg["batch"],
                                      weight_decay=g_cfg.get("weight_decay", 1e-4), seed=seed)  # fmt: skip
                    errors = base_errors(f, x, mos.numpy())
                    g = train_failure_predictor(f, x, errors, mds["default"]["loss"], mds["default"]["rank"], g_opt)
                    for d, (_t, _p, pool_mos) in targets.items():
                        x_pool = x_targets[d][1]
                        row[f"g_{d}"] = float(srcc(predict(g.build(), x_pool), base_errors(f, x_pool, pool_mos)))
                    row["g_mean"] = float(np.mean([row[f"g_{d}"] for d in targets]))
                row["seconds"] = round(time.perf_counter() - start, 2)
                rows.append(row)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    return rows


def open_ids(path: Path) -> list[str]:
    from vqaloop.features.store import open_store

    return list(open_store(path).ids)


def summary(rows: list[dict]) -> pd.DataFrame:
    """Mean and sd over seeds per model and size of the curves' columns."""
    df = pd.DataFrame(rows)
    cols = [c for c in ("in_domain", "ood_mean", "g_mean") if c in df]
    return df.groupby(["model", "size"])[cols].agg(["mean", "std"]).round(4)


def plot(rows: list[dict], path: Path) -> None:
    """The curves' figure written to ``path`` (atomically)."""
    write_all_atomic([(path, figure_writer(figure(rows), 110))])


def figure(rows: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    panels = [("in_domain", "SRCC, source test split"), ("ood_mean", "SRCC, targets' test splits (mean)"),
              ("g_mean", "g: SRCC with f's pool errors (mean)")]  # fmt: skip
    panels = [p for p in panels if p[0] in df]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (col, title) in zip(axes[0], panels, strict=True):
        for model, group in df.dropna(subset=[col]).groupby("model", sort=True):
            stats = group.groupby("size")[col].agg(["mean", "std"])
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3, label=model)
        own = df.loc[df.extra_videos == 0, "size"].max()  # beyond it, the pool's videos join the source
        ax.axvline(own, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("labelled source videos")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def checked_paths(args) -> Path:
    """One line for a bad --config, --data-root or --out; the figure's path (beside --out, suffix .png)."""
    if not args.config.is_file():
        raise UserError(f"--config: {args.config} is not a readable file")
    if not (args.data_root / "manifests").is_dir():
        raise UserError(f"--data-root: {args.data_root} has no manifests/ folder (run make demo first)")
    if args.out.suffix != ".json":
        raise UserError(f"--out: {args.out} must end in .json (the figure goes beside it as .png)")
    png = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for path in (args.out, png):
        check_output_file(path, "--out")
        if path.resolve() == args.config.resolve() or path.resolve().is_relative_to(args.data_root.resolve()):
            raise UserError(f"--out: {path} would overwrite the config or write into --data-root")
    return png


def main(argv=None) -> int:
    torch.set_num_threads(1)
    args = parse_args(argv)
    try:
        png = checked_paths(args)
        cfg = yaml.safe_load(args.config.read_text())
        start = time.perf_counter()
        rows = learning_rows(args, cfg)
    except UserError as err:
        print(f"learning_curves.py: {err}", file=sys.stderr)
        return 2
    print(summary(rows).to_string())
    result = {"machine": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d"),
              "dispatch": DISPATCH, "config": str(args.config), "seconds": round(time.perf_counter() - start, 1),
              "rows": rows}  # fmt: skip
    write_all_atomic(
        [(args.out, text_writer(json.dumps(result, indent=1) + "\n")), (png, figure_writer(figure(rows), 110))]
    )
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
