"""The MDS-VQA authors' release (vqaloop.datasets.mds_release) and the adapters that read their split lists
(youtube_ugc, youtube_sfv_sdr), on hand-made fixtures in the authors' original JSON / text formats and in the
transcription's (tests/data/mds_release/), and on the transcription itself (../shared, where CI has it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vqaloop.datasets import get_adapter
from vqaloop.datasets.mds_release import find_layout, load_release, release_paths
from vqaloop.errors import UserError

FIXTURES = Path(__file__).parent / "data" / "mds_release"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mds-vqa-a6834d5"
POOL = ["SDR_Animal_a001.mp4", "SDR_Cooking_b002.mp4", "SDR_Dance_c003.mp4", "SDR_Gameplay_d004.mp4",
        "SDR_Health_e005.mp4", "SDR_Hobby_f006.mp4", "SDR_Music_g007.mp4", "SDR_Sports_h008.mp4"]  # fmt: skip


def copy(tmp_path: Path, layout: str) -> Path:
    root = tmp_path / layout
    shutil.copytree(FIXTURES / layout, root)
    return root


def one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("layout", ["original", "transcribed"])
def test_both_layouts_read_the_same_release(layout):
    r = load_release(FIXTURES / layout)
    assert r.layout == layout and find_layout(FIXTURES / layout) == layout
    assert r.pool.index.tolist() == POOL and r.pool["SDR_Dance_c003.mp4"] == 3.05
    assert r.test.to_dict() == {
        "SDR_Society_i009.mp4": 3.967,
        "SDR_Speech_j010.mp4": 2.662,
        "SDR_Animal_k011.mp4": 4.452,
    }
    assert r.test_normalised.index.tolist() == ["SDR_Animal_k011.mp4", "SDR_Society_i009.mp4", "SDR_Speech_j010.mp4"]
    assert r.f.index[0] == "SDR_Sports_h008.mp4" and r.f["SDR_Animal_k011.mp4"] == 4.67 and len(r.f) == 11
    # g keeps its file order (the authors' iteration order decides their ties)
    assert r.g.index.tolist()[:3] == ["SDR_Music_g007.mp4", "SDR_Cooking_b002.mp4", "SDR_Animal_a001.mp4"]
    assert r.g["SDR_Gameplay_d004.mp4"] == 4.8
    assert r.finetuned.to_dict() == {
        "SDR_Society_i009.mp4": 4.0,
        "SDR_Speech_j010.mp4": 3.0,
        "SDR_Animal_k011.mp4": 4.6,
    }
    assert r.selected.index.tolist() == ["SDR_Gameplay_d004.mp4", "SDR_Dance_c003.mp4", "SDR_Cooking_b002.mp4"]
    assert r.selected.tolist() == [1.0, 2.570380719524974, 1.5392944463849108]
    assert r.ugc_test.to_dict() == {"Sports_360P-0c0d": 3.2, "Vlog_480P-9f9f": 4.4}  # raw MOS, published ids
    if layout == "original":
        assert r.f_reasoning_chars["SDR_Health_e005.mp4"] == len("Excellent.")
        assert r.ugc_f.to_dict()["Vlog_480P-9f9f"] == 4.2
    else:
        assert r.f_reasoning_chars is None and r.ugc_f is None


def test_release_paths_name_the_files_of_each_layout():
    original = release_paths(FIXTURES / "original")
    assert original["g"] == FIXTURES / "original/test_results/training_failure_prediction/sdr_130.json"
    assert original["ugc_f"] == FIXTURES / "original/datasets/ugc.json"
    assert "ugc_f" not in release_paths(FIXTURES / "transcribed")


def test_an_unparsed_answer_in_a_result_json_is_one_line(tmp_path):
    """The authors' inference.py stores the raw answer text as the score when it cannot parse one."""
    root = copy(tmp_path, "original")
    path = root / "test_results/training_failure_prediction/sdr_130.json"
    data = json.loads(path.read_text())
    data["SDR_Hobby_f006.mp4"]["score"] = ["<answer>hard to say</answer>"]
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as err:
        load_release(root)
    assert f"{path}: video 'SDR_Hobby_f006.mp4': score" in one_line(err) and "not a finite number" in one_line(err)


@pytest.mark.parametrize(
    ("file", "edit", "expected"),
    [
        ("sdr/sdr_train_mos.txt", lambda t: t.replace("SDR_Dance_c003.mp4 3.05", "SDR_Dance_c003.mp4 3.05 x"),
         "sdr_train_mos.txt line 3: 3 field(s), expected '<video> <value>'"),
        ("sdr/sdr_test_mos.txt", lambda t: t.replace("2.662", "n/a"), "sdr_test_mos.txt line 2 (video 'SDR_Speech_j010.mp4'): 'n/a' is not a number"),
        ("sdr_130_scores.tsv", lambda t: t.replace("SDR_Hobby_f006.mp4\t2.0\n", ""), "sdr_130_scores.tsv: 1 video(s) of"),
        ("selected_sdr.tsv", lambda t: t.replace("2.570380719524974", "2.6"), "has label 2.6, but its normalised MOS"),
        ("sdr/sdr_test_mos.txt", lambda t: t + "SDR_Music_g007.mp4 2.9\n", "is in both the pool and the test split"),
        ("baseline_sdr_scores.tsv", lambda t: t + "SDR_Music_g007.mp4\t3.0\n", "listed more than once"),
    ],
)  # fmt: skip
def test_bad_release_files_are_one_line(tmp_path, file, edit, expected):
    root = copy(tmp_path, "transcribed")
    path = root / file
    path.write_text(edit(path.read_text()))
    with pytest.raises(UserError) as err:
        load_release(root)
    assert expected in one_line(err)


def test_a_folder_without_the_release_says_where_to_get_it(tmp_path):
    with pytest.raises(UserError) as err:
        load_release(tmp_path)
    assert "Multimedia-Analytics-Laboratory/MDS-VQA" in one_line(err) and "a6834d5" in one_line(err)
    with pytest.raises(UserError, match="not found"):
        find_layout(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------- adapters


def videos_for(root: Path, names: list[str], folder: str = "videos") -> None:
    for name in names:
        (root / folder / name).parent.mkdir(parents=True, exist_ok=True)
        (root / folder / name).touch()


@pytest.mark.parametrize("where", ["root", "datasets/sdr", "metadata"])
def test_sfv_sdr_adapter_reads_the_authors_lists(tmp_path, where):
    root = tmp_path / "youtube_sfv_hdr"
    lists = FIXTURES / "original/datasets/sdr"
    target = root if where == "root" else root / "datasets/sdr" if where == "datasets/sdr" else tmp_path / "clone"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("sdr_train_mos.txt", "sdr_test_mos.txt"):
        shutil.copy(lists / name, target / name)
    videos_for(root, POOL + ["SDR_Society_i009.mp4", "SDR_Speech_j010.mp4", "SDR_Animal_k011.mp4"])
    metadata = target / "sdr_train_mos.txt" if where == "metadata" else None
    m = get_adapter("youtube_sfv_sdr").read(root, metadata)
    assert m.video_id.tolist()[:2] == ["SDR_Animal_a001", "SDR_Cooking_b002"] and len(m) == 11
    assert m.path.tolist()[0] == "videos/SDR_Animal_a001.mp4"
    assert m.split.value_counts().to_dict() == {"train": 8, "test": 3}
    by_id = m.set_index("video_id").mos
    assert by_id["SDR_Gameplay_d004"] == 1.926 and by_id["SDR_Speech_j010"] == 2.662  # raw MOS, unchanged


def test_ugc_adapter_reads_the_authors_split_and_raw_mos(tmp_path):
    root = tmp_path / "youtube_ugc"
    shutil.copytree(FIXTURES / "original/datasets/ugc", root / "datasets/ugc")
    # one of the authors' transcodes, the others as the original .mkv files (found by the published id)
    videos_for(root, ["Animation_1080P-05f8_crf_10_ss_00_t_20.0.mp4"], "transcodes")
    videos_for(root, ["Gaming_720P-1a2b.mkv", "Sports_360P-0c0d.mkv", "Vlog_480P-9f9f.mkv"], "original_videos")
    m = get_adapter("youtube_ugc").read(root)
    assert m.video_id.tolist() == ["Animation_1080P-05f8", "Gaming_720P-1a2b", "Sports_360P-0c0d", "Vlog_480P-9f9f"]
    assert m.path.tolist()[:2] == ["transcodes/Animation_1080P-05f8_crf_10_ss_00_t_20.0.mp4",
                                   "original_videos/Gaming_720P-1a2b.mkv"]  # fmt: skip
    assert m.split.tolist() == ["train", "train", "test", "test"]
    assert m.mos.tolist() == [3.901, 2.95, 3.2, 4.4]  # ugc_mos.txt, not the normalised values of the split lists


def test_a_split_list_naming_a_missing_video_is_refused_with_one_line(tmp_path):
    root = tmp_path / "sdr"
    shutil.copytree(FIXTURES / "original/datasets/sdr", root)
    videos_for(root, POOL + ["SDR_Society_i009.mp4", "SDR_Animal_k011.mp4"])  # no SDR_Speech_j010.mp4 file
    with pytest.raises(UserError) as err:
        get_adapter("youtube_sfv_sdr").read(root)
    assert "1 of 11 video files listed in" in one_line(err) and "SDR_Speech_j010.mp4" in one_line(err)
    ugc = tmp_path / "ugc"
    shutil.copytree(FIXTURES / "original/datasets/ugc", ugc)
    (ugc / "ugc_test_set.txt").write_text(
        "Sports_360P-0c0d_crf_10_ss_00_t_20.0.mp4 2.9\nLecture_360P-7777_crf_10_ss_00_t_20.0.mp4 3\n"
    )
    with pytest.raises(UserError) as err:
        get_adapter("youtube_ugc").read(ugc)
    assert "ugc_mos.txt: 1 video(s) of" in one_line(err) and "Lecture_360P-7777" in one_line(err)
    (ugc / "ugc_test_set.txt").unlink()
    with pytest.raises(UserError) as err:
        get_adapter("youtube_ugc").read(ugc)
    assert "not the split list" in one_line(err) and "ugc_test_set.txt" in one_line(err)


def test_sfv_sdr_without_the_authors_lists_keeps_the_generic_csv(tmp_path):
    (tmp_path / "youtube_sfv_sdr_mos.csv").write_text("video,mos\nv/a.mp4,3.5\nv/b.mp4,2.0\n")
    videos_for(tmp_path, ["a.mp4", "b.mp4"], "v")
    m = get_adapter("youtube_sfv_sdr").read(tmp_path)
    assert m.mos.tolist() == [3.5, 2.0] and set(m.split) == {"test"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="the transcription of the authors' release is not at ../shared")
def test_the_transcribed_release_reads_and_agrees():
    r = load_release(SHARED)
    assert (len(r.pool), len(r.test), len(r.g), len(r.selected), len(r.finetuned)) == (1624, 406, 1624, 64, 406)
    assert set(r.f.index) == set(r.pool.index) | set(r.test.index)
    assert r.pool.min() >= 1.0 and r.test.max() <= 5.0 and np.isclose(min(r.pool.min(), r.test.min()), 1.926)
    assert len(r.ugc_test) == 203
