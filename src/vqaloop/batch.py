"""``vqaloop batch``: several vqaloop commands in one process, in order.

A workflow job that runs a whole stage of one variant (every seed and dataset) calls this instead of starting
one Python process per command: torch, the models and the features files are imported and read once
(``vqaloop.io.readers`` keeps the arrays it read), which is most of the time of a short command. Each argument
is one command line without the leading ``vqaloop``, e.g. ``'select --method random --features F.npz ...'``.
Every command's arguments are parsed and checked (``vqaloop.cli.parse_command``: ranges, names, output paths)
before the first one runs, so a bad argument anywhere writes nothing. The first command that fails while running
(bad data it reads) stops the batch with its exit status; its error names the command's position. The outputs of
the commands before it stay (decided): each of them is complete, since a command writes all of its outputs or none,
and a workflow job that fails has its declared outputs removed by Snakemake anyway.
``--threads N`` is a default for every command with a ``--threads`` option: a performance knob the workflow
passes outside the commands themselves, so changing it reruns nothing.
"""

from __future__ import annotations

import logging
import shlex
import time

from vqaloop.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    from vqaloop.cli_checks import threads

    parser.add_argument("--threads", type=threads, default=None,
                        help="CPU threads of every command that has a --threads option and does not set it")  # fmt: skip
    parser.add_argument("commands", nargs="+", metavar="COMMAND",
                        help="one quoted vqaloop command line per argument (without 'vqaloop')")  # fmt: skip


def parse_commands(lines: list[str]) -> list[list[str]]:
    """Each line split like a shell would; an unknown or nested command is refused before anything runs."""
    from vqaloop.cli import COMMANDS

    commands = []
    for k, line in enumerate(lines, 1):
        try:
            argv = shlex.split(line)
        except ValueError as err:
            raise UserError(f"batch command {k}: cannot split {line!r} ({err})") from None
        if not argv:
            raise UserError(f"batch command {k} is empty")
        if argv[0] == "batch":
            raise UserError(f"batch command {k}: a batch cannot run another batch")
        if argv[0] not in COMMANDS:
            raise UserError(f"batch command {k}: unknown command {argv[0]!r}")
        commands.append(argv)
    return commands


def run(args) -> int:
    from vqaloop.cli import parse_command

    commands = parse_commands(args.commands)
    parsed = []
    for k, argv in enumerate(commands, 1):  # every command's arguments and paths, before the first one runs
        try:
            parsed.append(parse_command(argv[0], argv[1:], {} if args.threads is None else {"threads": args.threads}))
        except UserError as err:
            raise UserError(f"batch command {k}/{len(commands)} ({argv[0]}): {err}") from None
    start = time.perf_counter()
    for k, (argv, (module, command_args)) in enumerate(zip(commands, parsed, strict=True), 1):
        log.info("batch %d/%d: vqaloop %s", k, len(commands), shlex.join(argv))
        try:
            status = int(module.run(command_args) or 0)
        except UserError as err:
            raise UserError(f"batch command {k}/{len(commands)} ({argv[0]}): {err}") from None
        if status:
            log.error("batch command %d/%d (%s) exited with %d", k, len(commands), argv[0], status)
            return status
    log.info("batch: %d commands in %.1f s", len(commands), time.perf_counter() - start)
    return 0
