"""Dataset adapters (vqaloop.datasets): published metadata formats -> manifests with MOS on [1, 5].

Fixtures in tests/data/datasets/ are hand-written in the published formats (not by the placeholder writer), so
a bug shared by a writer and its reader shows up; expected MOS values are computed here by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vqaloop.datasets import adapter_names, get_adapter
from vqaloop.datasets.xlsx import read_sheet
from vqaloop.errors import UserError
from vqaloop.io.manifest import read_manifest

DATA = Path(__file__).parent / "data" / "datasets"
PAPER_DATASETS = {"youtube_ugc", "konvid_1k", "lsvq", "lsvq_1080p", "live_vqc", "cgvds", "live_livestream",
                  "youtube_sfv_sdr", "youtube_sfv_hdr2sdr", "aigvqa_db", "live_yt_gaming", "live_yt_hfr",
                  "waterloo_ivc_4k", "kvq", "video_folder"}  # fmt: skip


def dataset_root(tmp_path: Path, fixture: str, videos: list[str], at: str = "") -> Path:
    """A dataset root: the hand-written metadata fixture copied in (under ``at``), empty video files."""
    root = tmp_path / fixture
    shutil.copytree(DATA / fixture, root / at if at else root, dirs_exist_ok=True)
    for rel in videos:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    return root


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_registry_has_every_paper_dataset():
    assert set(adapter_names()) == PAPER_DATASETS
    with pytest.raises(UserError, match="unknown dataset adapter 'konvid'; valid: .*konvid_1k"):
        get_adapter("konvid")


def test_konvid_reads_the_published_quoted_csv(tmp_path):
    ids = ["3339962845", "8171831850", "5319047612", "12262452854", "9571377943"]
    root = dataset_root(tmp_path, "konvid_1k", [f"KoNViD_1k_videos/{i}.mp4" for i in ids], at="KoNViD_1k_metadata")
    m = get_adapter("konvid_1k").read(root)
    assert m.video_id.tolist() == ids and m.path.tolist() == [f"KoNViD_1k_videos/{i}.mp4" for i in ids]
    assert m.mos.tolist() == pytest.approx([4.64, 4.444029851, 1.3469, 3.0, 1.0])  # [1, 5] scale: unchanged
    assert set(m.split) == {"test"} and m.content_id.tolist() == ids and set(m.dataset) == {"konvid_1k"}


def test_lsvq_official_split_and_rescaled_mos(tmp_path):
    names = ["yfcc-batch1/11", "yfcc-batch1/12", "yfcc-batch2/13", "ia-batch1/14"]
    root = dataset_root(tmp_path, "lsvq", [f"{n}.mp4" for n in names])
    m = get_adapter("lsvq").read(root).set_index("video_id")
    # 1 + 4 * mos / 100, by hand: 67.75 -> 3.71; 50.903225806451594 -> 3.03612903225806376; 0 -> 1; 100 -> 5
    assert m.loc[names, "mos"].tolist() == pytest.approx([3.71, 3.036129032258064, 1.0, 5.0])
    assert m.loc[names, "split"].tolist() == ["train", "test", "train", "test"]  # is_test column
    assert m.loc["yfcc-batch2/13", ["width", "height", "n_frames"]].tolist() == [720, 1280, 241]
    m1080 = get_adapter("lsvq_1080p").read(dataset_root(tmp_path / "b", "lsvq", ["yfcc-batch1/21.mp4",
                                                                                  "yfcc-batch1/22.mp4"]))  # fmt: skip
    assert m1080.split.tolist() == ["test", "test"] and m1080.mos.tolist() == pytest.approx([4.150967741935484, 2.0])


def test_live_yt_hfr_wide_table_and_sources(tmp_path):
    names = ["1Runner_crf_0_24fps", "1Runner_crf_63_120fps", "books_crf_0_60fps", "books_crf_28_30fps"]
    videos = [f"{n.split('_crf_')[0]}/{n}.webm" for n in names[:3]] + ["elsewhere/deep/books_crf_28_30fps.mp4"]
    m = get_adapter("live_yt_hfr").read(dataset_root(tmp_path, "live_yt_hfr", videos, at="subjective_scores"))
    assert m.video_id.tolist() == names and m.path.tolist() == videos  # found by stem wherever they lie
    assert m.mos.tolist() == pytest.approx([1 + 4 * 0.4191279704473017, 3.0, 5.0, 1.0])
    assert m.content_id.tolist() == ["1Runner", "1Runner", "books", "books"] and m.fps.tolist() == [24, 120, 60, 30]


def test_kvq_reads_the_training_file_of_w2s_vqas_count_not_the_validation_file(tmp_path):
    # W2S-VQA's KVQ column (2,926 videos) is the challenge's training file: every row a test video (issue 22); the
    # validation labels truth.csv are not merged in (before, a test role kept only them)
    videos = ["train/0239.mp4", "train/0240.mp4", "train/0241.mp4", "val/0001.mp4"]
    m = get_adapter("kvq").read(dataset_root(tmp_path, "kvq", videos))
    assert m.split.tolist() == ["test"] * 3 and m.path.tolist() == videos[:3]
    assert m.mos.tolist() == pytest.approx([3.5, 1.0, 4.75])
    (tmp_path / "kvq" / "truth.csv").unlink()  # the same without the validation labels
    assert get_adapter("kvq").read(tmp_path / "kvq").video_id.tolist() == m.video_id.tolist()
    only = get_adapter("kvq").read(tmp_path / "kvq", metadata=DATA / "kvq" / "truth.csv")  # asked for: that file
    assert only.path.tolist() == ["val/0001.mp4"] and only.mos.tolist() == pytest.approx([2.25])


def test_live_vqc_mat_file(tmp_path):
    import scipy.io

    root = tmp_path / "vqc"
    (root / "Video").mkdir(parents=True)
    names = ["A001.mp4", "B017.mp4", "S120.mp4"]
    cells = np.empty((3, 1), dtype=object)
    for i, n in enumerate(names):
        cells[i, 0] = np.array([n])
        (root / "Video" / n).touch()
    scipy.io.savemat(root / "data.mat", {"video_list": cells, "mos": np.array([[80.0], [25.0], [62.5]])})
    m = get_adapter("live_vqc").read(root)
    assert m.video_id.tolist() == ["A001", "B017", "S120"] and m.path.tolist() == [f"Video/{n}" for n in names]
    assert m.mos.tolist() == pytest.approx([4.2, 2.0, 3.5])
    scipy.io.savemat(root / "data.mat", {"names": cells, "mos": np.array([[80.0], [25.0], [62.5]])})
    with pytest.raises(UserError) as err:
        get_adapter("live_vqc").read(root)
    assert "data.mat lacks variable(s) video_list (has names, mos)" in one_line(err)


def handwritten_xlsx(path: Path, sheet: str, header: list[str], rows: list[list]) -> None:
    """A workbook as spreadsheet programs save it: shared strings, numbers as plain <v> (not our writer)."""
    strings = list(dict.fromkeys([*header, *(v for r in rows for v in r if isinstance(v, str))]))

    def cell(ref, v):
        return (
            f'<c r="{ref}" t="s"><v>{strings.index(v)}</v></c>'
            if isinstance(v, str)
            else f'<c r="{ref}"><v>{v}</v></c>'
        )

    body = "".join(f'<row r="{r + 1}">' + "".join(cell(f"{'ABCDEFG'[c]}{r + 1}", v) for c, v in enumerate(vals))
                   + "</row>" for r, vals in enumerate([header, *rows]))  # fmt: skip
    m = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/package/2006/relationships"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{m}" xmlns:r="http://schemas.openxmlformats.org/'
                   f'officeDocument/2006/relationships"><sheets><sheet name="Readme" sheetId="1" r:id="rId1"/>'
                   f'<sheet name="{sheet}" sheetId="2" r:id="rId2"/></sheets></workbook>')  # fmt: skip
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{rel}"><Relationship Id="rId1" Type="w" '
                   'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="w" Target="/xl/worksheets/'
                   'sheet2.xml"/></Relationships>')  # fmt: skip
        z.writestr(
            "xl/sharedStrings.xml", f'<sst xmlns="{m}">' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>"
        )
        z.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{m}"><sheetData/></worksheet>')
        z.writestr("xl/worksheets/sheet2.xml", f'<worksheet xmlns="{m}"><sheetData>{body}</sheetData></worksheet>')


def test_youtube_ugc_workbook(tmp_path):
    root = tmp_path / "ugc"
    root.mkdir()
    rows = [["Gaming_1080P-0ce6", "Gaming", 4.0, 3.9], ["Vlog_720P-0b9e", "Vlog", 2.5, 2.4],
            ["Sports_360P-1a2b", "Sports", 1.0, 1.2]]  # fmt: skip
    handwritten_xlsx(root / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx", "MOS",
                     ["vid", "category", "MOS full", "MOS chunk00"], rows)  # fmt: skip
    for rel in ("original_videos/Gaming/1080P/Gaming_1080P-0ce6.mkv", "Vlog_720P-0b9e.mkv", "x/Sports_360P-1a2b.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    m = get_adapter("youtube_ugc").read(root)
    assert m.video_id.tolist() == [r[0] for r in rows] and m.mos.tolist() == [4.0, 2.5, 1.0]
    assert m.path.tolist() == ["original_videos/Gaming/1080P/Gaming_1080P-0ce6.mkv", "Vlog_720P-0b9e.mkv",
                               "x/Sports_360P-1a2b.mp4"]  # fmt: skip
    assert m.domain.tolist() == ["Gaming", "Vlog", "Sports"]
    handwritten_xlsx(root / "original_videos_MOS_for_YouTube_UGC_dataset.xlsx", "MOS", ["vid", "category", "MOS"], rows)
    with pytest.raises(UserError) as err:
        get_adapter("youtube_ugc").read(root)
    assert "sheet 'MOS' lacks column(s) MOS full (has vid, category, MOS)" in one_line(err)


def test_missing_video_files_are_named_first_few(tmp_path):
    ids = ["3339962845", "8171831850", "5319047612", "12262452854", "9571377943"]
    root = dataset_root(tmp_path, "konvid_1k", [f"KoNViD_1k_videos/{ids[2]}.mp4"])
    with pytest.raises(UserError) as err:
        get_adapter("konvid_1k").read(root)
    line = one_line(err)
    assert "4 of 5 video files listed in" in line and str(root) in line
    assert "KoNViD_1k_videos/3339962845.mp4, KoNViD_1k_videos/8171831850.mp4, KoNViD_1k_videos/12262452854.mp4 " \
           "(and 1 more)" in line  # fmt: skip


def test_missing_metadata_file_is_named(tmp_path):
    with pytest.raises(UserError) as err:
        get_adapter("konvid_1k").read(tmp_path)
    assert one_line(err) == (
        f"konvid_1k: dataset root {tmp_path} lacks 1 file(s) the adapter needs: "
        "KoNViD_1k_metadata/KoNViD_1k_mos.csv or KoNViD_1k_mos.csv (KoNViD-1k as published)"
    )
    with pytest.raises(UserError, match="is not a folder"):
        get_adapter("lsvq").read(tmp_path / "nowhere")


@pytest.mark.parametrize(("adapter", "file", "text", "expected"), [
    ("konvid_1k", "KoNViD_1k_mos.csv", '"id","score"\n"1","2.0"\n', "lacks column(s) flickr_id, mos (has id, score)"),
    ("lsvq", "labels_train_test.csv", "name,mos\nyfcc-batch1/1,50\n", "lacks column(s) is_test (has name, mos)"),
    ("kvq", "train_data.csv", "file,mos\ntrain/0001.mp4,3\n", "lacks column(s) filename, score (has file, mos)"),
    ("live_yt_hfr", "subject_MOS.csv", "name,mos\na_crf_0_24fps,50\n", "expected a first row starting with 'File Names'"),
    ("cgvds", "cgvds_mos.csv", "file,score\na.mp4,3\n", "lacks column(s) video, mos (has file, score)"),
])  # fmt: skip
def test_unexpected_columns_one_line(tmp_path, adapter, file, text, expected):
    (tmp_path / file).write_text(text)
    with pytest.raises(UserError) as err:
        get_adapter(adapter).read(tmp_path)
    line = one_line(err)
    assert expected in line and str(tmp_path / file) in line


def test_mos_outside_the_published_scale_is_refused(tmp_path):
    (tmp_path / "labels_test_1080p.csv").write_text("name,mos\nyfcc-batch1/1,4.2\nyfcc-batch1/2,120\n")
    with pytest.raises(UserError) as err:
        get_adapter("lsvq_1080p").read(tmp_path)
    assert "video yfcc-batch1/2 has MOS 120.0, outside the published LSVQ-1080p scale [0, 100]" in one_line(err)


def test_generic_mapping_keeps_content_and_split_columns(tmp_path):
    """A mapped dataset read through the generic CSV adapter: content and split columns honoured."""
    (tmp_path / "cgvds_mos.csv").write_text("video,mos,content,split\ng/a_1.mp4,5,a,train\ng/a_2.mp4,1,a,train\n"
                                            "g/b_1.mp4,2.2,b,test\n")  # fmt: skip
    for rel in ("g/a_1.mp4", "g/a_2.mp4", "g/b_1.mp4"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).touch()
    m = get_adapter("cgvds").read(tmp_path)
    assert m.content_id.tolist() == ["a", "a", "b"] and m.split.tolist() == ["train", "train", "test"]
    assert m.mos.tolist() == pytest.approx([5.0, 1.0, 2.2])  # CGVDS scale [1, 5]
    m = get_adapter("live_livestream").read(tmp_path, metadata=tmp_path / "cgvds_mos.csv")
    assert m.mos.tolist() == pytest.approx([1.2, 1.04, 1.088])  # the 0-100 scale: 1 + 4 * mos / 100


def test_video_folder_pool(tmp_path):
    for rel in ("tiktok/b.mp4", "youtube/x/a.webm", "notes.txt", "youku/c.MKV"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    m = get_adapter("video_folder").read(tmp_path)
    assert m.path.tolist() == ["tiktok/b.mp4", "youku/c.MKV", "youtube/x/a.webm"]
    assert (
        set(m.split) == {"pool"}
        and m.mos.isna().all()
        and m.video_id.tolist() == ["tiktok/b", "youku/c", "youtube/x/a"]
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no video files under"):
        get_adapter("video_folder").read(tmp_path / "empty")


@pytest.mark.parametrize("name", sorted(PAPER_DATASETS))
def test_placeholder_round_trip(tmp_path, name):
    """write_placeholder -> read: n videos, MOS on [1, 5], expected files present, same bytes for the same seed."""
    adapter = get_adapter(name)
    root = adapter.write_placeholder(tmp_path / "a", 10, seed=7)
    m = adapter.read(root)
    assert len(m) == 10 and m.video_id.is_unique and set(m.dataset) == {name}
    assert all(p.is_file() for p in adapter.expected_files(root))
    if name != "video_folder":
        assert m.mos.between(1, 5).all()
    again = adapter.write_placeholder(tmp_path / "b", 10, seed=7)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((root / f).read_bytes() == (again / f).read_bytes() for f in files)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vqaloop", *args], capture_output=True, text=True, check=False)


def test_cli_adapt_dataset_and_seeded_split(tmp_path):
    root = get_adapter("konvid_1k").write_placeholder(tmp_path / "konvid", 20, seed=1)
    out = tmp_path / "m.csv"
    done = run_cli("adapt", "--dataset", "konvid_1k", "--root", str(root), "--out", str(out))
    assert done.returncode == 0, done.stderr
    m = read_manifest(out)
    assert len(m) == 20 and set(m.split) == {"test"}
    done = run_cli("adapt", "--dataset", "konvid_1k", "--root", str(root), "--test-fraction", "0.25", "--seed", "3",
                   "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    m = read_manifest(out)  # validation: splits never share a content
    assert m.split.value_counts().to_dict() == {"train": 15, "test": 5}
    done = run_cli("adapt", "--dataset", "konvid_1k", "--root", str(root), "--csv", "x.csv", "--out", str(out))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        "vqaloop: error: --root reads a published dataset with its adapter; drop --csv"
    )
    done = run_cli("adapt", "--dataset", "x", "--out", str(out))
    assert "adapt needs --csv, --path-column, --mos-column (a user's CSV), or --root DIR" in done.stderr


def test_official_split_survives_test_fraction(tmp_path):
    """--test-fraction only splits datasets that publish no split: LSVQ keeps its is_test split."""
    from vqaloop.datasets.adapter import adapt_published

    names = ["yfcc-batch1/11", "yfcc-batch1/12", "yfcc-batch2/13", "ia-batch1/14"]
    root = dataset_root(tmp_path, "lsvq", [f"{n}.mp4" for n in names])
    m = adapt_published("lsvq", root, None, 0.5, 0)
    assert m.split.tolist() == ["train", "test", "train", "test"]


def test_xlsx_writer_reader_agree_on_types(tmp_path):
    frame = pd.DataFrame({"a": ["x&<y>", "z"], "b": [1.5, 2.0], "c": [True, False]})
    from vqaloop.datasets.xlsx import write_sheet

    write_sheet(tmp_path / "w.xlsx", "S", frame)
    back = read_sheet(tmp_path / "w.xlsx", "S")
    assert back.a.tolist() == ["x&<y>", "z"] and back.b.tolist() == [1.5, 2.0] and back.c.tolist() == [True, False]
    with pytest.raises(UserError, match="workbook has no sheet 'MOS' \\(sheets: S\\)"):
        read_sheet(tmp_path / "w.xlsx", "MOS")
    (tmp_path / "bad.xlsx").write_text("not a zip")
    with pytest.raises(UserError, match="not a readable .xlsx workbook"):
        read_sheet(tmp_path / "bad.xlsx", "MOS")
