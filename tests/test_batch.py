"""``vqaloop batch``: several commands in one process (the workflow's one job per stage), and the features-file
cache that makes it pay."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import error_line, run_cli

from vqaloop.errors import UserError


def write_matrix(path, values):
    names = [f"v{k}" for k in range(len(values))]
    rows = [",".join(["", *names])] + [",".join([n, *map(str, row)]) for n, row in zip(names, values, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


MATRICES = ([[0.5, 0.8, 0.9], [0.2, 0.5, 0.7], [0.1, 0.3, 0.5]], [[0.5, 0.4], [0.6, 0.5]])


def test_a_batch_writes_what_the_commands_write_one_by_one(tmp_path):
    inputs = [write_matrix(tmp_path / f"m{k}.csv", m) for k, m in enumerate(MATRICES)]
    for k, path in enumerate(inputs):
        run_cli("thurstone", "--matrix", str(path), "--out", str(tmp_path / f"alone{k}.csv"), check=True)
    commands = [f"thurstone --matrix {p} --out {tmp_path / f'batch{k}.csv'}" for k, p in enumerate(inputs)]
    proc = run_cli("batch", *commands, check=True)
    assert "batch 2/2" in proc.stderr and "2 commands in" in proc.stderr
    for k in range(len(inputs)):
        assert (tmp_path / f"batch{k}.csv").read_bytes() == (tmp_path / f"alone{k}.csv").read_bytes()


def test_a_failing_command_stops_the_batch_and_is_named(tmp_path):
    good = write_matrix(tmp_path / "good.csv", MATRICES[1])
    commands = [f"thurstone --matrix {tmp_path / 'missing.csv'} --out {tmp_path / 'a.csv'}",
                f"thurstone --matrix {good} --out {tmp_path / 'b.csv'}"]  # fmt: skip
    line = error_line(run_cli("batch", *commands))
    assert "batch command 1/2 (thurstone)" in line and "missing.csv" in line
    assert not (tmp_path / "b.csv").exists()  # nothing after the failure runs


@pytest.mark.parametrize(("command", "message"), [("batch 'thurstone --matrix x'", "cannot run another batch"),
                                                  ("no-such-command --x", "unknown command 'no-such-command'"),
                                                  ("thurstone 'unclosed", "cannot split")])  # fmt: skip
def test_bad_command_lines_are_refused_before_anything_runs(tmp_path, command, message):
    good = write_matrix(tmp_path / "good.csv", MATRICES[1])
    first = f"thurstone --matrix {good} --out {tmp_path / 'first.csv'}"
    assert message in error_line(run_cli("batch", first, command))
    assert not (tmp_path / "first.csv").exists()


def test_threads_is_a_default_for_commands_that_have_the_option(monkeypatch):
    """--threads reaches the commands with a --threads option that do not set it, and no other command."""
    import argparse

    from vqaloop import batch, cli

    seen = []

    def fake_parse_command(command, argv, defaults=None):  # parses, checks no path, runs nothing
        module = __import__(cli.COMMANDS[command][0], fromlist=["add_arguments"])
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        dests = {a.dest for a in parser._actions}
        parser.set_defaults(**{k: v for k, v in (defaults or {}).items() if k in dests})
        seen.append(getattr(parser.parse_args(argv), "threads", None))
        return argparse.Namespace(run=lambda args: 0), None

    monkeypatch.setattr(cli, "parse_command", fake_parse_command)
    args = argparse.Namespace(threads=3, commands=["thurstone --matrix m.csv", "features --manifest m --data-root d "
                              "--encoder motion --out o.npz", "features --manifest m --data-root d --encoder motion "
                              "--out o.npz --threads 1"])  # fmt: skip
    assert batch.run(args) == 0
    assert seen == [None, 3, 1]


def test_an_npz_is_read_once_and_read_only_until_it_changes(tmp_path):
    from vqaloop.io.readers import read_npz

    path = tmp_path / "f.npz"
    np.savez(path, a=np.arange(4.0))
    first, second = read_npz(path), read_npz(path)
    assert first["a"] is second["a"] and not first["a"].flags.writeable
    with pytest.raises(ValueError):
        first["a"][0] = 7.0
    np.savez(path, a=np.arange(5.0))
    assert len(read_npz(path)["a"]) == 5  # a rewritten file is read again
    path.write_bytes(b"")
    with pytest.raises(UserError, match="empty file"):
        read_npz(path)
