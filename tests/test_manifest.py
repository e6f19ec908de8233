"""The manifest contract: every bad input gives one error naming the file, row or column."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import error_line, run_cli

from vqaloop.errors import UserError
from vqaloop.io.manifest import check_files, read_manifest, validate_manifest
from vqaloop.io.video import encode


def good_manifest() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d"],
            "path": ["v/a.mp4", "v/b.mp4", "v/c.mp4", "v/d.mp4"],
            "mos": [3.5, 2.0, None, 4.0],
            "split": ["train", "train", "pool", "test"],
            "dataset": "toy",
            "content_id": ["c1", "c1", "c2", "c3"],
        }
    )


def test_valid_manifest_passes_and_pool_may_be_unlabelled():
    df = validate_manifest(good_manifest(), "m.csv")
    assert df.mos.isna().sum() == 1 and df.loc[2, "split"] == "pool"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.drop(columns="content_id"), "lacks required column(s) ['content_id']"),
        (lambda d: d.assign(video_id=["a", "b", "a", "d"]), "duplicate video_id 'a' at row 4"),
        (lambda d: d.assign(mos=[3.5, float("nan"), None, 4.0]), "row 3 (video_id b) is in split 'train'"),
        (lambda d: d.assign(mos=[3.5, "good", None, 4.0]), "row 3 (video_id b) has a non-numeric mos 'good'"),
        (lambda d: d.assign(content_id=["c1", "c1", "c2", "c1"]), "content_id 'c1' appears in splits"),
        (lambda d: d.assign(split=["train", "train", "pool", "val"]), "row 5 (video_id d) has split 'val'"),
        (
            lambda d: d.assign(path=["v/a.mp4", "", "v/c.mp4", "v/d.mp4"]),
            "row 3 (video_id b) has an empty path",
        ),
    ],
)
def test_bad_manifest_names_file_and_row(tmp_path, mutate, expected):
    path = tmp_path / "m.csv"
    mutate(good_manifest()).to_csv(path, index=False)
    with pytest.raises(UserError) as err:
        read_manifest(path)
    assert str(err.value).startswith(str(path)) and expected in str(err.value)
    line = error_line(run_cli("check-manifest", str(path)))
    assert expected in line


def test_check_files_reports_missing_and_corrupt_videos(tmp_path, photo_clip):
    df = validate_manifest(good_manifest(), "m.csv")
    (tmp_path / "v").mkdir()
    for vid in "abcd":
        encode(photo_clip[:3], tmp_path / "v" / f"{vid}.mp4", fps=10)
    check_files(df, tmp_path, "m.csv")  # all good
    (tmp_path / "v" / "c.mp4").write_bytes(b"not a video")
    with pytest.raises(UserError, match=r"row 4 \(video_id c\): .*c.mp4: unreadable or corrupt video"):
        check_files(df, tmp_path, "m.csv")
    (tmp_path / "v" / "c.mp4").unlink()
    with pytest.raises(UserError, match=r"row 4 \(video_id c\): video file .*c.mp4 not found"):
        check_files(df, tmp_path, "m.csv")


def test_missing_manifest_file(tmp_path):
    line = error_line(run_cli("check-manifest", str(tmp_path / "nope.csv")))
    assert "nope.csv: manifest file not found" in line
