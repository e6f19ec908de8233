"""The MDS-VQA authors' published data (``Multimedia-Analytics-Laboratory/MDS-VQA`` at commit a6834d5, Apache-2.0):
their YouTube-UGC and YouTube-SFV SDR splits and MOS, and their models' outputs on SDR, read from either layout.

Two layouts of one release folder (``find_layout``):

- ``original``: a clone of the authors' repository. ``datasets/sdr/sdr_{train,test}_mos.txt`` (``<video> <raw MOS>``;
  train = the unlabelled pool, test = the test split), ``datasets/sdr/sdr_{train,test}_set.txt`` (``<video> <MOS
  min-max-normalised to [1, 5]>``), ``datasets/ugc/ugc_{train,test}_set.txt`` and ``ugc_mos.txt`` (the same for
  YouTube-UGC, names ``<vid>_crf_10_ss_00_t_20.0.mp4``); ``test_results/baseline_sdr.json`` (the base model f,
  VisualQuality-R1 trained on YouTube-UGC, on every SDR video: ``{video: {"reasoning": text, "score": number}}``),
  ``test_results/training_failure_prediction/sdr_130.json`` (the failure predictor g on the pool, same format),
  ``test_results/sdr_active_finetuning.json`` (the fine-tuned model on the test split),
  ``datasets/RL-VQA_finetune_ugc_selected_sdr.jsonl`` (the fine-tuning set: one JSON record a line, ``dataset_name``,
  ``image`` = [video], ``conversations`` = [prompt, {"value": normalised MOS}]; its ``sdr`` records are the 64
  videos MDS-VQA selected, in pick order) and, optional, ``datasets/ugc.json`` (f on YouTube-UGC, keys ``<vid>``).
- ``transcribed``: the same data kept as plain files (``../shared/data/mds-vqa-a6834d5``, its README.md):
  ``sdr/`` and ``ugc/`` verbatim, and ``baseline_sdr_scores.tsv``, ``sdr_130_scores.tsv``,
  ``sdr_active_finetuning_scores.tsv`` (``video<TAB>score``, file order kept; no reasoning text) and
  ``selected_sdr.tsv`` (``order, video, label, dataset_name, id``).

``load_release(root)`` reads either into one ``Release`` and checks that the files agree (the pool and the test
split partition the scored videos, g scores exactly the pool, the selection is 64 distinct pool videos whose labels
are their normalised MOS); every problem is one ``UserError`` naming the file and the line or video.
The split-list reader also serves the ``youtube_ugc`` and ``youtube_sfv_sdr`` dataset adapters.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError

RELEASE_COMMIT = "a6834d5d74fcdbc00270cafcf6b26da3d9e9a42a"
RELEASE_REPOSITORY = "Multimedia-Analytics-Laboratory/MDS-VQA"
WHERE_TO_GET = (f"clone https://github.com/{RELEASE_REPOSITORY} and check out {RELEASE_COMMIT[:7]}, then point "
                "mds_replay.release_dir at the clone")  # fmt: skip

# role -> relative path, per layout (the transcription drops the reasoning text and ugc.json)
LAYOUTS: dict[str, dict[str, str]] = {
    "original": {
        "pool_mos": "datasets/sdr/sdr_train_mos.txt",
        "test_mos": "datasets/sdr/sdr_test_mos.txt",
        "pool_normalised": "datasets/sdr/sdr_train_set.txt",
        "test_normalised": "datasets/sdr/sdr_test_set.txt",
        "f": "test_results/baseline_sdr.json",
        "g": "test_results/training_failure_prediction/sdr_130.json",
        "finetuned": "test_results/sdr_active_finetuning.json",
        "selected": "datasets/RL-VQA_finetune_ugc_selected_sdr.jsonl",
    },
    "transcribed": {
        "pool_mos": "sdr/sdr_train_mos.txt",
        "test_mos": "sdr/sdr_test_mos.txt",
        "pool_normalised": "sdr/sdr_train_set.txt",
        "test_normalised": "sdr/sdr_test_set.txt",
        "f": "baseline_sdr_scores.tsv",
        "g": "sdr_130_scores.tsv",
        "finetuned": "sdr_active_finetuning_scores.tsv",
        "selected": "selected_sdr.tsv",
    },
}
OPTIONAL = {"original": {"ugc_f": "datasets/ugc.json", "ugc_mos": "datasets/ugc/ugc_mos.txt",
                         "ugc_test": "datasets/ugc/ugc_test_set.txt"},
            "transcribed": {"ugc_mos": "ugc/ugc_mos.txt", "ugc_test": "ugc/ugc_test_set.txt"}}  # fmt: skip
SELECTED_DATASET = "sdr"  # dataset_name of the selected SDR records in the fine-tuning set
UGC_SUFFIX = "_crf_10_ss_00_t_20.0.mp4"  # the authors' YouTube-UGC file names: <vid> + this


def find_layout(root: str | os.PathLike) -> str:
    """The layout, "original" or "transcribed" (the one whose pool MOS list exists under ``root``), else one UserError."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"MDS-VQA release folder {root} not found ({WHERE_TO_GET})")
    for layout, files in LAYOUTS.items():
        if (root / files["pool_mos"]).is_file():
            return layout
    raise UserError(f"{root}: neither the MDS-VQA authors' repository ({LAYOUTS['original']['pool_mos']}) nor its "
                    f"transcription ({LAYOUTS['transcribed']['pool_mos']}) ({WHERE_TO_GET})")  # fmt: skip


def release_paths(root: str | os.PathLike) -> dict[str, Path]:
    """Role -> file of the release under ``root`` (the optional ones only where present): the files the replay
    reads, so a workflow rule can name them as inputs."""
    root = Path(root)
    layout = find_layout(root)
    paths = {role: root / rel for role, rel in LAYOUTS[layout].items()}
    paths.update({role: root / rel for role, rel in OPTIONAL[layout].items() if (root / rel).is_file()})
    return paths


def release_root(pool_mos: str | os.PathLike) -> Path:
    """The release folder of its pool MOS list (the inverse of ``release_paths(root)["pool_mos"]``)."""
    pool_mos = Path(pool_mos)
    for files in LAYOUTS.values():
        rel = Path(files["pool_mos"])
        if pool_mos.parts[-len(rel.parts) :] == rel.parts:
            return pool_mos.parents[len(rel.parts) - 1]
    known = " or ".join(files["pool_mos"] for files in LAYOUTS.values())
    raise UserError(f"{pool_mos}: not the pool MOS list of an MDS-VQA release ({known})")


# ---------------------------------------------------------------------------------------------- readers


def read_split_list(path: str | os.PathLike, what: str) -> pd.Series:
    """A list of ``<video> <value>`` lines (the authors' split and MOS files) as a float Series by video, in file
    order; a line with another number of fields, a value that is not a finite number or a repeated video is
    refused with one line naming the file and the line."""
    from vqaloop.io.readers import read_text

    path = Path(path)
    names, values = [], []
    for number, line in enumerate(read_text(path, what).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise UserError(f"{path} line {number}: {len(fields)} field(s), expected '<video> <value>' ({what})")
        names.append(fields[0])
        values.append(_finite(fields[1], f"{path} line {number} (video {fields[0]!r})"))
    if not names:
        raise UserError(f"{path}: no '<video> <value>' line ({what})")
    series = pd.Series(values, index=names, dtype=float, name=what)
    _no_repeats(series.index, path)
    return series


def read_score_tsv(path: str | os.PathLike, what: str) -> pd.Series:
    """``video<TAB>score`` (the transcription of an authors' result JSON): scores by video, file order."""
    from vqaloop.io.readers import read_csv

    path = Path(path)
    table = read_csv(path, what, ("video", "score"), sep="\t", dtype=str, keep_default_na=False)
    if table.empty:
        raise UserError(f"{path}: no rows ({what})")
    values = [_finite(v, f"{path} line {i + 2} (video {n!r})") for i, (n, v) in enumerate(zip(table.video, table.score,
                                                                                            strict=True))]  # fmt: skip
    series = pd.Series(values, index=table.video.tolist(), dtype=float, name=what)
    _no_repeats(series.index, path)
    return series


def read_score_json(path: str | os.PathLike, what: str) -> tuple[pd.Series, pd.Series]:
    """An authors' result JSON ``{video: {"reasoning": text, "score": number}}`` -> (scores, length of the
    reasoning text in characters; NaN where it is "N/A" or absent), both by video in file order.

    Their ``inference.py`` stores the raw answer text as the score when it cannot parse a number: such an entry is
    refused with one line naming the video (it would be a guess to read one)."""
    from vqaloop.io.readers import read_json

    path = Path(path)
    data = read_json(path, what)
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path}: expected a JSON object {{video: {{reasoning, score}}}} ({what})")
    scores, lengths = {}, {}
    for video, entry in data.items():
        if not isinstance(entry, dict) or "score" not in entry:
            raise UserError(f"{path}: video {video!r} has no 'score' ({what})")
        score = entry["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise UserError(f"{path}: video {video!r}: score {str(score)[:60]!r} is not a finite number (the authors' "
                            "inference.py stores the raw answer when it cannot parse one)")  # fmt: skip
        scores[video] = float(score)
        reasoning = entry.get("reasoning")
        lengths[video] = float(len(reasoning)) if isinstance(reasoning, str) and reasoning != "N/A" else math.nan
    return pd.Series(scores, dtype=float, name=what), pd.Series(lengths, dtype=float, name="reasoning_chars")


def read_selected_jsonl(path: str | os.PathLike) -> pd.Series:
    """The authors' fine-tuning set (JSON lines): its ``sdr`` records in file order -> normalised MOS by video."""
    from vqaloop.io.readers import read_text

    path = Path(path)
    videos, labels = [], []
    for number, line in enumerate(read_text(path, "fine-tuning set (JSON lines)").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise UserError(f"{path} line {number}: not a JSON record ({str(err)[:80]})") from None
        try:
            dataset, image, label = record["dataset_name"], record["image"], record["conversations"][1]["value"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"{path} line {number}: expected dataset_name, image and conversations[1].value") from None
        if dataset != SELECTED_DATASET:
            continue
        if not (isinstance(image, list) and len(image) == 1 and isinstance(image[0], str)):
            raise UserError(f"{path} line {number}: image must be a list of one video name, got {str(image)[:60]}")
        videos.append(image[0])
        labels.append(_finite(label, f"{path} line {number} (video {image[0]!r})"))
    if not videos:
        raise UserError(f"{path}: no record with dataset_name {SELECTED_DATASET!r} (the selected SDR videos)")
    series = pd.Series(labels, index=videos, dtype=float, name="label")
    _no_repeats(series.index, path)
    return series


def read_selected_tsv(path: str | os.PathLike) -> pd.Series:
    """The transcription of the selected records: ``order, video, label, dataset_name, id`` (order 1..n)."""
    from vqaloop.io.readers import read_csv

    path = Path(path)
    table = read_csv(path, "selected SDR records", ("order", "video", "label"), sep="\t", dtype=str,
                     keep_default_na=False)  # fmt: skip
    if table.empty:
        raise UserError(f"{path}: no rows (selected SDR records)")
    if table.order.tolist() != [str(i) for i in range(1, len(table) + 1)]:
        raise UserError(f"{path}: column order must run 1..{len(table)} (the pick order)")
    labels = [_finite(v, f"{path} line {i + 2} (video {n!r})") for i, (n, v) in enumerate(zip(table.video, table.label,
                                                                                            strict=True))]  # fmt: skip
    series = pd.Series(labels, index=table.video.tolist(), dtype=float, name="label")
    _no_repeats(series.index, path)
    return series


def _finite(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {str(value)[:40]!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise UserError(f"{where}: {value!r} is not a finite number")
    return number


def _no_repeats(index: pd.Index, path: Path) -> None:
    repeated = index[index.duplicated()].unique().tolist()
    if repeated:
        raise UserError(f"{path}: video {repeated[0]!r} listed more than once")


# ---------------------------------------------------------------------------------------------- the release


@dataclass
class Release:
    """Everything the replay reads, checked. Series are indexed by video (the authors' file names), in file order."""

    root: Path
    layout: str
    paths: dict[str, Path]
    pool: pd.Series  # raw MOS of the 1,624 pool videos (sdr_train_mos.txt)
    test: pd.Series  # raw MOS of the 406 test videos
    pool_normalised: pd.Series
    test_normalised: pd.Series
    f: pd.Series  # f's score of every SDR video
    f_reasoning_chars: pd.Series | None  # length of f's reasoning text (original layout only)
    g: pd.Series  # g's score of every pool video (its file order is the authors' iteration order)
    finetuned: pd.Series  # the fine-tuned model's score of every test video
    selected: pd.Series  # MDS-VQA's selection: normalised MOS by video, in pick order
    ugc_f: pd.Series | None = None  # f's score on YouTube-UGC by <vid> (original layout with datasets/ugc.json)
    ugc_test: pd.Series | None = None  # raw MOS of the YouTube-UGC test split by <vid>


def load_release(root: str | os.PathLike) -> Release:
    """Read and cross-check the release under ``root`` (module docstring)."""
    root = Path(root)
    layout = find_layout(root)
    paths = release_paths(root)
    pool = read_split_list(paths["pool_mos"], "SDR pool MOS (sdr_train_mos.txt)")
    test = read_split_list(paths["test_mos"], "SDR test MOS (sdr_test_mos.txt)")
    pool_n = read_split_list(paths["pool_normalised"], "SDR pool normalised MOS (sdr_train_set.txt)")
    test_n = read_split_list(paths["test_normalised"], "SDR test normalised MOS (sdr_test_set.txt)")
    reasoning = None
    if layout == "original":
        f, reasoning = read_score_json(paths["f"], "f's scores (baseline_sdr.json)")
        g, _ = read_score_json(paths["g"], "g's scores (sdr_130.json)")
        finetuned, _ = read_score_json(paths["finetuned"], "fine-tuned scores (sdr_active_finetuning.json)")
        selected = read_selected_jsonl(paths["selected"])
    else:
        f = read_score_tsv(paths["f"], "f's scores")
        g = read_score_tsv(paths["g"], "g's scores")
        finetuned = read_score_tsv(paths["finetuned"], "fine-tuned scores")
        selected = read_selected_tsv(paths["selected"])
    release = Release(root, layout, paths, pool, test, pool_n, test_n, f, reasoning, g, finetuned, selected)
    if "ugc_test" in paths and "ugc_mos" in paths:
        release.ugc_test = ugc_test_mos(paths["ugc_mos"], paths["ugc_test"])
    if "ugc_f" in paths:
        release.ugc_f, _ = read_score_json(paths["ugc_f"], "f's scores on YouTube-UGC (ugc.json)")
    check_release(release)
    return release


def ugc_test_mos(mos_path: Path, test_path: Path) -> pd.Series:
    """Raw MOS of the authors' YouTube-UGC test split, indexed by ``<vid>`` (their file name without UGC_SUFFIX)."""
    mos = read_split_list(mos_path, "YouTube-UGC MOS (ugc_mos.txt)")
    test = read_split_list(test_path, "YouTube-UGC test split (ugc_test_set.txt)")
    _covered(test.index, mos.index, test_path, mos_path)
    out = mos.loc[test.index]
    out.index = [ugc_vid(name) for name in out.index]
    return out


def ugc_vid(name: str) -> str:
    """``Animation_1080P-05f8_crf_10_ss_00_t_20.0.mp4`` -> ``Animation_1080P-05f8`` (the published id)."""
    return name[: -len(UGC_SUFFIX)] if name.endswith(UGC_SUFFIX) else Path(name).stem


def check_release(r: Release) -> None:
    """The files of one release agree (module docstring); one UserError naming the files otherwise."""
    p = r.paths
    both = sorted(set(r.pool.index) & set(r.test.index))
    if both:
        raise UserError(
            f"{p['pool_mos']} and {p['test_mos']}: video {both[0]!r} is in both the pool and the test split"
        )
    for raw, normalised, raw_path, n_path in ((r.pool, r.pool_normalised, p["pool_mos"], p["pool_normalised"]),
                                               (r.test, r.test_normalised, p["test_mos"], p["test_normalised"])):  # fmt: skip
        if set(raw.index) != set(normalised.index):
            odd = sorted(set(raw.index) ^ set(normalised.index))[0]
            raise UserError(f"{raw_path} and {n_path} list different videos (e.g. {odd!r})")
    _covered(r.pool.index, r.f.index, p["pool_mos"], p["f"])
    _covered(r.test.index, r.f.index, p["test_mos"], p["f"])
    _covered(r.pool.index, r.g.index, p["pool_mos"], p["g"])
    _covered(r.g.index, r.pool.index, p["g"], p["pool_mos"])
    _covered(r.test.index, r.finetuned.index, p["test_mos"], p["finetuned"])
    _covered(r.selected.index, r.pool.index, p["selected"], p["pool_mos"])
    labels = r.pool_normalised.loc[r.selected.index]
    off = (labels - r.selected).abs() > 1e-9
    if off.any():
        video = off.index[off.to_numpy().argmax()]
        raise UserError(f"{p['selected']}: video {video!r} has label {float(r.selected[video])!r}, but its "
                        f"normalised MOS in {p['pool_normalised']} is {float(labels[video])!r}")  # fmt: skip


def _covered(ids, within, ids_path, within_path) -> None:
    known = set(within)
    missing = [v for v in ids if v not in known]
    if missing:
        shown = ", ".join(repr(v) for v in missing[:3])
        raise UserError(f"{within_path}: {len(missing)} video(s) of {ids_path} missing ({shown})")


# ---------------------------------------------------------------------------------------------- dataset adapters


def find_list(root: Path, metadata: Path | None, name: str, folders: tuple[str, ...]) -> Path | None:
    """An authors' list file ``name``: beside ``metadata`` when given, else under ``root`` or one of ``folders``
    (their repository keeps them in ``datasets/<dataset>/``)."""
    if metadata is not None:
        candidate = Path(metadata).parent / name
        return candidate if candidate.is_file() else None
    for folder in ("", *folders):
        candidate = root / folder / name
        if candidate.is_file():
            return candidate
    return None


def split_table(lists: dict[str, Path], mos: pd.Series, mos_path: Path) -> pd.DataFrame:
    """(video file name, split, raw MOS) of every video of the split lists ``{split: path}``; a list naming a video
    the MOS file lacks, or a video in two lists, is refused with one line."""
    rows = []
    seen: dict[str, Path] = {}
    for split, path in lists.items():
        names = read_split_list(path, f"{split} split list").index
        for name in names:
            if name in seen:
                raise UserError(f"{path}: video {name!r} is also in {seen[name]} (a video is in one split only)")
            seen[name] = path
        _covered(names, mos.index, path, mos_path)
        rows += [(name, split, float(mos[name])) for name in names]
    return pd.DataFrame(rows, columns=["file", "split", "mos"])


def locate_videos(root: Path, files: list[str], fallback_stems: list[str]) -> list[str]:
    """Paths relative to ``root`` of the authors' video files, found anywhere under it by file name (else by the
    published id's stem, e.g. YouTube-UGC's original ``<vid>.mkv``); the file name itself where neither is found,
    so the adapter's missing-file check names it."""
    from vqaloop.datasets.base import index_videos

    by_name: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            by_name.setdefault(name, Path(folder, name).relative_to(root).as_posix())
    by_stem = index_videos(root)
    return [by_name.get(f) or by_stem.get(stem) or f for f, stem in zip(files, fallback_stems, strict=True)]


class AuthorsSplits:
    """Mixin of a ``DatasetAdapter``: the MDS-VQA authors' raw MOS list and split lists, read when they are there
    (at the dataset root, in its ``<dataset>/`` or ``datasets/<dataset>/`` folder as in their repository, or beside
    the file given as ``metadata``); the adapter's other format otherwise.

    ``AUTHORS_MOS``: the raw MOS list; ``AUTHORS_SPLITS``: split -> list file (its values are not read: the raw MOS
    come from ``AUTHORS_MOS``, which may itself be a split list); ``AUTHORS_FOLDERS``: where their repository keeps
    them. A video is identified by ``authors_id(file name)``; its file is found under the root by name
    (``locate_videos``)."""

    AUTHORS_MOS = ""
    AUTHORS_SPLITS: dict[str, str] = {}
    AUTHORS_FOLDERS: tuple[str, ...] = ()

    def authors_files(self, root: Path, metadata) -> dict[str, Path] | None:
        """{"mos": path, <split>: path, ...} when the authors' files are given, else None; a partial set is refused."""
        if metadata is not None and Path(metadata).name != self.AUTHORS_MOS:
            return None
        mos = find_list(root, None if metadata is None else Path(metadata), self.AUTHORS_MOS, self.AUTHORS_FOLDERS)
        if mos is None:
            return None
        files = {"mos": mos}
        for split, name in self.AUTHORS_SPLITS.items():
            path = mos.parent / name
            if not path.is_file():
                raise UserError(f"{self.name}: {mos} is there but not the split list {path} beside it (the MDS-VQA "
                                "authors' lists come together)")  # fmt: skip
            files[split] = path
        return files

    def authors_id(self, file_name: str) -> str:
        return Path(file_name).stem

    def raw_mos_lists(self) -> tuple[str, ...]:
        """List files that hold raw MOS (besides ``AUTHORS_MOS``): none, unless the split lists are MOS lists."""
        return ()

    def parse_authors(self, root: Path, files: dict[str, Path]) -> pd.DataFrame:
        """The manifest rows of the authors' files (``authors_files``); the raw MOS of every split list's videos
        come from the ``mos`` file (for SDR, the split lists are the MOS lists themselves)."""
        mos_files = list(dict.fromkeys([files["mos"], *(files[s] for s in self.AUTHORS_SPLITS)]))
        mos_files = [f for f in mos_files if f.name == self.AUTHORS_MOS or f.name in self.raw_mos_lists()]
        mos = pd.concat([read_split_list(f, f"{self.title} raw MOS ({f.name})") for f in mos_files])
        lists = {split: files[split] for split in self.AUTHORS_SPLITS}
        table = split_table(lists, mos, files["mos"])
        ids = [self.authors_id(f) for f in table.file]
        return pd.DataFrame({"video_id": ids, "path": locate_videos(root, table.file.tolist(), ids), "mos": table.mos,
                             "split": table.split, "content_id": ids})  # fmt: skip

    def write_authors_placeholder(self, root: Path, rows: pd.DataFrame) -> None:
        """The authors' files for placeholder rows (``file``, ``split``, ``mos``): raw MOS list and split lists."""
        from vqaloop.io.atomic import write_text_atomic

        def lines(frame: pd.DataFrame) -> str:
            return "".join(f"{f} {m!r}\n" for f, m in zip(frame.file, frame.mos.astype(float), strict=True))

        if self.AUTHORS_MOS not in self.AUTHORS_SPLITS.values():
            write_text_atomic(root / self.AUTHORS_MOS, lines(rows))
        for split, name in self.AUTHORS_SPLITS.items():
            write_text_atomic(root / name, lines(rows[rows.split == split]))
