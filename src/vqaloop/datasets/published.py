"""Adapters for the datasets whose published metadata format could be confirmed from public files.

Every adapter's docstring says: the metadata file(s), where the format was read (repository + path), the MOS
scale and its rescaling to [1, 5] (base.rescale_to_1_5: 1 + 4 (m - low) / (high - low)), and the split.
"Official split: none" means every video is given split ``test`` (the whole dataset as an evaluation set,
W2S-VQA Sec. 4.1); ``vqaloop adapt --test-fraction F`` (the workflow's datasets: ``--role``) then draws a
seeded content-disjoint train/test split.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.datasets import xlsx
from vqaloop.datasets.base import DatasetAdapter, placeholder_mos, resolve_by_stem
from vqaloop.datasets.mds_release import UGC_SUFFIX, AuthorsSplits
from vqaloop.datasets.registry import register_dataset
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic, write_text_atomic
from vqaloop.io.readers import read_csv, read_text


def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    """``n`` distinct seeded integers in [low, high), sorted (Floyd's sampling: no array of the whole range)."""
    if n > high - low:
        raise UserError(f"cannot draw {n} distinct ids from a range of {high - low}")
    chosen: set[int] = set()
    for j in range(high - low - n, high - low):
        t = int(rng.integers(0, j + 1))
        chosen.add(t if t not in chosen else j)
    return sorted(low + v for v in chosen)


@register_dataset("youtube_ugc")
class YouTubeUGC(AuthorsSplits, DatasetAdapter):
    """YouTube-UGC (Wang et al. 2019). **The MDS-VQA authors' split, when given** (``mds_release.AuthorsSplits``):
    ``ugc_mos.txt`` (``<file> <raw MOS>``, all 1,016 videos they used) with ``ugc_train_set.txt`` and
    ``ugc_test_set.txt`` beside it (813 / 203; ``<file> <min-max-normalised MOS>``, only the names are read), at
    the root, in ``ugc/`` or ``datasets/ugc/`` (their repository) or beside ``metadata``; file names
    ``<vid>_crf_10_ss_00_t_20.0.mp4`` (their 20-s transcodes; found under the root by name, else the original
    ``<vid>.*`` by stem); video_id = vid; MOS scale [1, 5] -> unchanged; official split: theirs (train / test).

    Otherwise ``original_videos_MOS_for_YouTube_UGC_dataset.xlsx`` (the bucket's
    ``original_videos/MOS_for_YouTube_UGC_dataset.xlsx``; either name), sheet ``MOS``, columns ``vid``,
    ``category``, ``MOS full`` (overall MOS of the whole video; the chunk MOS columns are ignored).

    Format read in: a public converter (find_string "MOS_for_YouTube_UGC_dataset.xlsx", script "Build a 4-column
    YouTube-UGC annotation file from the official MOS workbook": ``pd.read_excel(..., sheet_name="MOS")``,
    required {"vid", "category", "MOS full"}) and the dataset page text (media.withyoutube.com: MOS for entire
    videos and 10 s chunks). MOS scale: [1, 5] (5-point ACR crowd study) -> unchanged.
    Videos: found anywhere under the root by file stem = ``vid`` (``.mkv``/``.mp4``...; the bucket's folder layout
    is not documented in the files read); the placeholder writes ``original_videos/<vid>.mkv``.
    content_id = vid (one video per content); ``domain`` = category. Official split: none.
    """

    title = "YouTube-UGC"
    metadata_files = (("original_videos_MOS_for_YouTube_UGC_dataset.xlsx", "MOS_for_YouTube_UGC_dataset.xlsx"),)
    mos_range = (1.0, 5.0)
    split_note = "none (all test; seeded content-disjoint split on request)"
    format_source = "public converter reading sheet MOS: vid, category, MOS full; media.withyoutube.com"
    SHEET, COLUMNS = "MOS", ("vid", "category", "MOS full")
    CATEGORIES = ("Animation", "Gaming", "HowTo", "Lecture", "LiveMusic", "Sports", "Vlog")

    AUTHORS_MOS = "ugc_mos.txt"
    AUTHORS_SPLITS = {"train": "ugc_train_set.txt", "test": "ugc_test_set.txt"}
    AUTHORS_FOLDERS = ("ugc", "datasets/ugc")

    def authors_id(self, file_name: str) -> str:
        from vqaloop.datasets.mds_release import ugc_vid

        return ugc_vid(file_name)

    def metadata_paths(self, root: Path, metadata) -> list[Path]:
        if root.is_dir() and (files := self.authors_files(root, metadata)) is not None:
            return list(files.values())
        return super().metadata_paths(root, metadata)

    def expected_files(self, root) -> list[Path]:
        files = self.authors_files(Path(root), None) if Path(root).is_dir() else None
        return list(files.values()) if files else super().expected_files(root)

    def parse(self, root: Path, files: list[Path]) -> pd.DataFrame:
        if files[0].name == self.AUTHORS_MOS:
            return self.parse_authors(root, dict(zip(["mos", *self.AUTHORS_SPLITS], files, strict=True)))
        table = xlsx.read_sheet(files[0], self.SHEET)
        missing = [c for c in self.COLUMNS if c not in table.columns]
        if missing:
            raise UserError(f"{files[0]}: sheet {self.SHEET!r} lacks column(s) {', '.join(missing)} "
                            f"(has {', '.join(map(str, table.columns[:12]))})")  # fmt: skip
        table = table[table["vid"].notna()]
        vids = table["vid"].astype(str).str.strip().tolist()
        paths = resolve_by_stem(root, vids, [f"original_videos/{v}.mkv" for v in vids])
        return pd.DataFrame({"video_id": vids, "path": paths, "mos": table["MOS full"].to_numpy(), "split": "test",
                             "content_id": vids, "domain": table["category"].astype(str).to_numpy()})  # fmt: skip

    published = (813 + 203, 203)  # the MDS-VQA authors' ugc_mos.txt and their test list (W2S-VQA prints 1,020)

    def placeholder_rows(self, rng, n, held_out=None):
        """The authors' layout (the paper's split): their file names, 4 in 5 videos in train (or the last
        ``held_out`` in test)."""
        categories = [self.CATEGORIES[i] for i in rng.integers(0, len(self.CATEGORIES), size=n)]
        resolutions = [("360P", "480P", "720P", "1080P", "2160P")[i] for i in rng.integers(0, 5, size=n)]
        ids = [f"{v:04x}" for v in _unique_ints(rng, n, 0, 16**4)]
        vids = [f"{c}_{r}-{i}" for c, r, i in zip(categories, resolutions, ids, strict=True)]
        files = [f"{v}{UGC_SUFFIX}" for v in vids]
        split = (["test" if k % 5 == 4 else "train" for k in range(n)] if held_out is None else
                 ["test" if k >= n - held_out else "train" for k in range(n)])  # fmt: skip
        return pd.DataFrame({"file": files, "split": split, "mos": placeholder_mos(rng, n, 1, 5, 3), "path": files})

    def write_metadata(self, root, rows):
        self.write_authors_placeholder(root, rows)


@register_dataset("konvid_1k")
class KoNViD1k(DatasetAdapter):
    """KoNViD-1k (Hosu et al. 2017): ``KoNViD_1k_mos.csv`` (in ``KoNViD_1k_metadata/`` or at the root), every
    field quoted, header ``"flickr_id","mos"``; videos ``KoNViD_1k_videos/<flickr_id>.mp4``.

    Format read in: ads2d/KFVQA ``data/KoNViD_1k_mos.csv`` (the file itself) and loaders joining
    ``KoNViD_1k_videos/`` + ``str(flickr_id) + '.mp4'``. MOS scale: [1, 5] (5-point ACR) -> unchanged.
    content_id = flickr_id. Official split: none.
    """

    title = "KoNViD-1k"
    metadata_files = (("KoNViD_1k_metadata/KoNViD_1k_mos.csv", "KoNViD_1k_mos.csv"),)
    mos_range = (1.0, 5.0)
    split_note = "none (all test; seeded content-disjoint split on request)"
    format_source = "ads2d/KFVQA data/KoNViD_1k_mos.csv"
    published = (1200, None)  # W2S-VQA Tables 1 and 3

    def parse(self, root, files):
        table = read_csv(files[0], "KoNViD-1k MOS file", ("flickr_id", "mos"), dtype={"flickr_id": str})
        ids = table["flickr_id"].astype(str).str.strip().tolist()
        return pd.DataFrame({"video_id": ids, "path": [f"KoNViD_1k_videos/{i}.mp4" for i in ids],
                             "mos": table["mos"].to_numpy(), "split": "test", "content_id": ids})  # fmt: skip

    def placeholder_rows(self, rng, n):
        ids = [str(v) for v in _unique_ints(rng, n, 2_999_000_000, 13_300_000_000)]
        return pd.DataFrame({"flickr_id": ids, "mos": placeholder_mos(rng, n, 1, 5, 10),
                             "path": [f"KoNViD_1k_videos/{i}.mp4" for i in ids]})  # fmt: skip

    def write_metadata(self, root, rows):
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["flickr_id", "mos"])
        for fid, mos in zip(rows["flickr_id"], rows["mos"], strict=True):
            writer.writerow([fid, f"{mos:.10f}"])
        write_text_atomic(root / self.metadata_files[0][0], out.getvalue())


LSVQ_COLUMNS = (
    "name,p1,p2,p3,height,width,mos_p1,mos_p2,mos_p3,mos,frame_number,fn_last_frame,left_p1,right_p1,top_p1,"
    "bottom_p1,start_p1,end_p1,left_p2,right_p2,top_p2,bottom_p2,start_p2,end_p2,left_p3,right_p3,top_p3,bottom_p3,"
    "start_p3,end_p3,top_vid,left_vid,bottom_vid,right_vid,start_vid,end_vid"
).split(",")


def _truthy(values: pd.Series, source: Path, column: str) -> pd.Series:
    """A True/False column (pandas reads it as bool; text 'True'/'False'/'1'/'0' accepted)."""
    text = values.astype(str).str.strip().str.lower()
    bad = ~text.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if bad.any():
        raise UserError(f"{source}: column {column} has {values[bad].iloc[0]!r}, expected True or False")
    return text.isin(["true", "1", "1.0"])


class _LSVQ(DatasetAdapter):
    """Shared by LSVQ and LSVQ-1080p: rows ``name`` (e.g. ``yfcc-batch1/747``) -> video ``<name>.mp4``."""

    mos_range = (0.0, 100.0)
    test_column: str | None = None
    with_test_column = True

    def parse(self, root, files):
        required = ("name", "mos") + ((self.test_column,) if self.test_column else ())
        table = read_csv(files[0], f"{self.title} label file", required, dtype={"name": str})
        names = table["name"].astype(str).str.strip().tolist()
        split = (np.where(_truthy(table[self.test_column], files[0], self.test_column), "test", "train")
                 if self.test_column else "test")  # fmt: skip
        out = pd.DataFrame({"video_id": names, "path": [f"{n}.mp4" for n in names], "mos": table["mos"].to_numpy(),
                            "split": split, "content_id": names})  # fmt: skip
        for src, dst in (("width", "width"), ("height", "height"), ("frame_number", "n_frames")):
            if src in table.columns:
                out[dst] = table[src].to_numpy()
        return out

    def placeholder_rows(self, rng, n, held_out=None):
        numbers = _unique_ints(rng, n, 1, max(20_000, 2 * n))
        names = [f"yfcc-batch{1 + k // 1000}/{k}" for k in numbers]
        rows = pd.DataFrame({"name": names, "path": [f"{x}.mp4" for x in names]})
        portrait = rng.random(n) < 0.2
        big = (1920, 1080) if self.name == "lsvq_1080p" else (1280, 720)
        rows["height"] = np.where(portrait, big[0], big[1])
        rows["width"] = np.where(portrait, big[1], big[0])
        rows["frame_number"] = rng.integers(150, 270, size=n)
        for k in ("mos_p1", "mos_p2", "mos_p3", "mos"):
            rows[k] = placeholder_mos(rng, n, 0, 100, 6)
        if self.with_test_column and held_out is not None:
            is_test = np.zeros(n, dtype=bool)
            is_test[rng.choice(n, size=held_out, replace=False)] = True
        elif self.with_test_column:
            is_test = rng.random(n) < 0.2
            if n >= 2:  # both splits present
                is_test[0], is_test[1] = False, True
        if self.with_test_column:
            rows["is_test"] = is_test
        rows["is_valid"] = rng.random(n) < 0.8
        return rows

    def write_metadata(self, root, rows):
        out = pd.DataFrame({"name": rows["name"]})
        for col in LSVQ_COLUMNS[1:]:
            if col in rows.columns:
                out[col] = rows[col].to_numpy()
            elif col in ("p1", "p2", "p3"):
                out[col] = [f"[0, {w}, 0, {h}, 0, {f}]" for w, h, f in
                            zip(rows.width, rows.height, rows.frame_number, strict=True)]  # fmt: skip
            elif col == "fn_last_frame":
                out[col] = [f"{x}/image_{f:05d}" for x, f in zip(rows.name, rows.frame_number, strict=True)]
            else:
                out[col] = 0
        for col in (["is_test"] if self.with_test_column else []) + ["is_valid"]:
            out[col] = rows[col].to_numpy()
        write_csv_atomic(out, root / self.metadata_files[0][0])


@register_dataset("lsvq")
class LSVQ(_LSVQ):
    """LSVQ (Ying et al. 2021): ``labels_train_test.csv`` (release v0.1 of baidut/PatchVQ); the ``is_test``
    column gives the official split (train 28,056 / test 7,182 in the paper); video ``<name>.mp4`` under the root
    (``name`` like ``yfcc-batch1/747``).

    Format read in: baidut/PatchVQ ``README.md`` (label files and the ``is_test`` column) and the column list of
    sunwei925/SimpleVQA ``data/LSVQ_whole_test.csv`` (name, p1..p3, height, width, mos_p1..3, mos,
    frame_number, ..., is_test, is_valid). Used columns: name, mos, is_test (+ width, height, frame_number).
    MOS scale: [0, 100] (continuous slider) -> 1 + 4 mos / 100. content_id = name.
    """

    title = "LSVQ"
    metadata_files = (("labels_train_test.csv",),)
    test_column = "is_test"
    split_note = "official: is_test column (train / test)"
    format_source = "baidut/PatchVQ README.md; sunwei925/SimpleVQA data/LSVQ_whole_test.csv (columns)"
    published = (28056 + 7182, 7182)  # train / test (is_test); with LSVQ-1080p 38,811 (W2S-VQA Table 3)


@register_dataset("lsvq_1080p")
class LSVQ1080p(_LSVQ):
    """LSVQ-1080p (Ying et al. 2021): ``labels_test_1080p.csv`` (release v0.1 of baidut/PatchVQ), the 3,573-video
    high-resolution test set; every row is a test video; video ``<name>.mp4`` under the root.

    Format read in: baidut/PatchVQ ``README.md`` and sunwei925/SimpleVQA ``data/LSVQ_whole_test_1080p.csv``
    (same columns as the train/test file, without ``is_test``). MOS scale: [0, 100] -> 1 + 4 mos / 100.
    content_id = name. Official split: the whole file is LSVQ's 1080p test set.
    """

    title = "LSVQ-1080p"
    metadata_files = (("labels_test_1080p.csv",),)
    with_test_column = False
    split_note = "official: the whole file is a test set"
    format_source = "baidut/PatchVQ README.md; sunwei925/SimpleVQA data/LSVQ_whole_test_1080p.csv (columns)"
    published = (3573, None)  # W2S-VQA Table 1


@register_dataset("live_vqc")
class LIVEVQC(DatasetAdapter):
    """LIVE-VQC (Sinno & Bovik 2018): ``data.mat`` (MATLAB v5) with ``video_list`` (cell array of file names,
    e.g. ``A001.mp4``) and ``mos`` (N x 1); videos ``Video/<name>``.

    Format read in: sunwei925/MinimalisticVQA ``data_loader.py`` (``dataInfo['video_list'][i][0][0]``,
    ``dataInfo['mos'][i][0]``) and a public MATLAB loader (``data.video_list``, ``data.mos``, videos under
    ``Video/``). MOS scale: [0, 100] (continuous slider) -> 1 + 4 mos / 100. content_id = file stem.
    Official split: none.
    """

    title = "LIVE-VQC"
    metadata_files = (("data.mat",),)
    mos_range = (0.0, 100.0)
    split_note = "none (all test; seeded content-disjoint split on request)"
    format_source = "sunwei925/MinimalisticVQA data_loader.py (video_list, mos)"
    published = (585, None)  # W2S-VQA Tables 1 and 3

    def parse(self, root, files):
        import scipy.io

        try:
            data = scipy.io.loadmat(files[0])
        except (ValueError, NotImplementedError, OSError, TypeError) as err:
            raise UserError(f"{files[0]}: not a readable MATLAB v5 data.mat ({type(err).__name__})") from None
        missing = [k for k in ("video_list", "mos") if k not in data]
        if missing:
            keys = [k for k in data if not k.startswith("__")]
            raise UserError(f"{files[0]}: data.mat lacks variable(s) {', '.join(missing)} (has {', '.join(keys)})")
        names = [str(np.asarray(v).ravel()[0]).strip() for v in np.asarray(data["video_list"]).ravel()]
        mos = np.asarray(data["mos"], dtype=float).ravel()
        if len(names) != len(mos):
            raise UserError(f"{files[0]}: {len(names)} names in video_list but {len(mos)} values in mos")
        stems = [Path(n).stem for n in names]
        return pd.DataFrame({"video_id": stems, "path": [f"Video/{n}" for n in names], "mos": mos,
                             "split": "test", "content_id": stems})  # fmt: skip

    def placeholder_rows(self, rng, n):
        letters = "ABCDEFGHIJKLMNOPQRS"
        codes = _unique_ints(rng, n, 0, len(letters) * 200)
        names = [f"{letters[c // 200]}{1 + c % 200:03d}.mp4" for c in codes]
        return pd.DataFrame({"name": names, "mos": placeholder_mos(rng, n, 0, 100, 4),
                             "path": [f"Video/{x}" for x in names]})  # fmt: skip

    def write_metadata(self, root, rows):
        import scipy.io

        cells = np.empty((len(rows), 1), dtype=object)
        for i, name in enumerate(rows["name"]):
            cells[i, 0] = np.array([name])
        path = root / "data.mat"
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {"video_list": cells, "mos": rows["mos"].to_numpy(float).reshape(-1, 1)})
        from vqaloop.io.atomic import write_bytes_atomic

        write_bytes_atomic(path, _strip_mat_timestamp(buffer.getvalue()))


def _strip_mat_timestamp(data: bytes) -> bytes:
    """savemat puts the creation time in the 116-byte text header; blank it for deterministic bytes."""
    header = b"MATLAB 5.0 MAT-file Platform: posix, Created on: vqaloop placeholder"
    return header.ljust(116, b" ") + data[116:]


@register_dataset("live_yt_hfr")
class LIVEYTHFR(DatasetAdapter):
    """LIVE-YT-HFR (Madhusudana et al. 2021): ``subject_MOS.csv`` from pavancm/LIVE-HFR ``subjective_scores/``
    (at the root or in ``subjective_scores/``): a wide table, first row ``File Names,<name>,...`` (names like
    ``1Runner_crf_0_24fps``), then a row ``MOS,<value>,...`` and a row ``std,...``.

    Format read in: pavancm/LIVE-HFR ``subjective_scores/subject_MOS.csv`` (the file itself) and its README
    (480 videos). MOS scale: [0, 100] (continuous slider) -> 1 + 4 mos / 100. content_id = source name (the part
    before ``_crf_``: 16 sources). Videos: found under the root by file stem = name (the archives unzip one
    folder per source; the extension is not stated in the files read); the placeholder writes
    ``<source>/<name>.webm``. Official split: none.
    """

    title = "LIVE-YT-HFR"
    metadata_files = (("subjective_scores/subject_MOS.csv", "subject_MOS.csv"),)
    mos_range = (0.0, 100.0)
    split_note = "none (all test; seeded content-disjoint split by source on request)"
    format_source = "pavancm/LIVE-HFR subjective_scores/subject_MOS.csv"
    published = (480, None)  # pavancm/LIVE-HFR README; W2S-VQA Tables 1 and 3
    SOURCES = ("1Runner", "3Runners", "Flips", "Hurdles", "LongJump", "bobblehead", "books", "bouncyball",
               "catchtrack", "cyclist", "hamster", "lamppost", "leaves", "library", "pour", "watersplashing")  # fmt: skip
    FPS = (24, 30, 60, 82, 98, 120)

    def parse(self, root, files):
        rows = list(csv.reader(io.StringIO(read_text(files[0], "LIVE-YT-HFR MOS file"))))
        if not rows or not rows[0] or rows[0][0].strip() != "File Names":
            raise UserError(
                f"{files[0]}: expected a first row starting with 'File Names' (LIVE-YT-HFR subject_MOS.csv)"
            )
        by_label = {r[0].strip(): r for r in rows[1:] if r}
        if "MOS" not in by_label:
            raise UserError(f"{files[0]}: no row labelled 'MOS' (rows: {', '.join(list(by_label)[:5])})")
        names = [n.strip() for n in rows[0][1:]]
        values = by_label["MOS"][1:]
        if len(values) != len(names):
            raise UserError(f"{files[0]}: {len(names)} file names but {len(values)} MOS values")
        if any("_crf_" not in n for n in names):
            bad = next(n for n in names if "_crf_" not in n)
            raise UserError(f"{files[0]}: file name {bad!r} is not <source>_crf_<crf>_<fps>fps")
        sources = [n.split("_crf_")[0] for n in names]
        paths = resolve_by_stem(root, names, [f"{s}/{n}.webm" for s, n in zip(sources, names, strict=True)])
        fps = [float(n.rsplit("_", 1)[1].removesuffix("fps")) for n in names]
        return pd.DataFrame({"video_id": names, "path": paths, "mos": pd.to_numeric(values, errors="coerce"),
                             "split": "test", "content_id": sources, "fps": fps})  # fmt: skip

    def placeholder_rows(self, rng, n):
        n_sources = min(len(self.SOURCES), max(1, n // 3))
        names = []
        for k in range(n):
            source = self.SOURCES[k % n_sources]
            crf = 0 if k < n_sources else int(rng.integers(8, 64))
            names.append(f"{source}_crf_{crf}_{self.FPS[(k // n_sources) % len(self.FPS)]}fps")
        names = list(dict.fromkeys(names))
        while len(names) < n:  # collisions of the random crf: draw again
            source = self.SOURCES[len(names) % n_sources]
            name = f"{source}_crf_{int(rng.integers(8, 64))}_{self.FPS[int(rng.integers(0, 6))]}fps"
            if name not in names:
                names.append(name)
        return pd.DataFrame({"name": names, "mos": placeholder_mos(rng, n, 0, 100, 8), "std": placeholder_mos(rng, n, 5, 15, 8),
                             "path": [f"{x.split('_crf_')[0]}/{x}.webm" for x in names]})  # fmt: skip

    def write_metadata(self, root, rows):
        lines = [",".join(["File Names", *rows["name"]]), ",".join(["MOS", *map(repr, rows["mos"].astype(float))]),
                 ",".join(["std", *map(repr, rows["std"].astype(float))])]  # fmt: skip
        write_text_atomic(root / self.metadata_files[0][0], "\n".join(lines) + "\n")


@register_dataset("kvq")
class KVQ(DatasetAdapter):
    """KVQ (Lu et al. 2024, NTIRE 2024 short-form UGC challenge): ``train_data.csv`` with header ``filename,score``
    (filenames like ``train/0239.mp4``, relative to the root), every row split ``test``: the dataset as W2S-VQA
    evaluates it. The challenge split KVQ's 4,200 videos (W2S-VQA Table 3) into 2,926 training, 420 validation
    and 854 test videos (NTIRE 2024 challenge report, arXiv 2404.11313); only the first two files carry public
    labels, and W2S-VQA's 2,926 (Tables 1 and 5) is the training file's size, so that is the file read. The
    validation labels ``truth.csv`` (420) are not merged in (until issue 22 they were, and a test role kept only
    them); give ``metadata`` = that file to read it instead.

    Format read in: lixinustc/KVQ-Challenge-CVPR-NTIRE2024 ``metric_score.py`` (``truth.csv``: ``filename``,
    ``score``) and ``datasets/fusion_datasets.py`` (csv rows ``filename, score`` after a header), and public
    loaders reading ``KVQ/train_data.csv`` with columns ``['file_names', 'score']`` and names ``train/0239.mp4``.
    MOS scale: [1, 5] (assumed: a public loader maps KVQ and KoNViD-1k alike by x20; not stated in the files
    read) -> unchanged. content_id = filename (the source-to-version mapping is not in the published files).
    Official split: none used (the whole labelled file is an evaluation set).
    """

    title = "KVQ"
    metadata_files = (("train_data.csv",),)
    mos_range = (1.0, 5.0)
    split_note = "none (train_data.csv, 2,926 videos, all test: W2S-VQA's count)"
    format_source = "lixinustc/KVQ-Challenge-CVPR-NTIRE2024 metric_score.py, datasets/fusion_datasets.py"
    published = (2926 + 420, 420)  # train_data.csv + truth.csv (the placeholder writes both; truth.csv is not read)

    def parse(self, root, files):
        table = read_csv(files[0], "KVQ label file", ("filename", "score"), dtype={"filename": str})
        names = table["filename"].astype(str).str.strip().tolist()
        ids = [Path(x).with_suffix("").as_posix() for x in names]
        return pd.DataFrame({"video_id": ids, "path": names, "mos": table["score"].to_numpy(), "split": "test",
                             "content_id": ids})  # fmt: skip

    def placeholder_rows(self, rng, n, held_out=None):
        """``n`` rows of ``train_data.csv``, or ``n - held_out`` and ``held_out`` validation rows in ``truth.csv``
        (the published sizes: a file that is there and is not read)."""
        n_val = 0 if held_out is None else held_out
        names = [f"train/{k:04d}.mp4" for k in range(n - n_val)] + [f"val/{k:04d}.mp4" for k in range(n_val)]
        return pd.DataFrame({"filename": names, "score": placeholder_mos(rng, n, 1, 5, 2), "path": names})

    def write_metadata(self, root, rows):
        train = rows["filename"].str.startswith("train/")
        write_csv_atomic(rows.loc[train, ["filename", "score"]], root / "train_data.csv")
        if (~train).any():
            write_csv_atomic(rows.loc[~train, ["filename", "score"]], root / "truth.csv")
