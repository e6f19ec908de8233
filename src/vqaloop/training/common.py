"""Argument helpers shared by the training commands."""

from __future__ import annotations


def add_optimiser_arguments(parser, epochs: int, lr: float, batch: int) -> None:
    from vqaloop.cli_checks import MAX_EPOCHS, float_in, int_in, seed, threads

    parser.add_argument("--epochs", type=int_in(1, MAX_EPOCHS), default=epochs)
    parser.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=lr, help="learning rate, in (0, 10]")
    parser.add_argument("--batch", type=int_in(2, 1 << 16), default=batch, help="videos per batch (pairs need 2)")
    parser.add_argument("--weight-decay", type=float_in(0.0, 10.0), default=1e-4)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=threads, default=1)


def add_model_arguments(parser, base: bool = True) -> None:
    """``--base`` (a registered base model) and ``--hidden`` of the commands that build one."""
    from vqaloop.cli_checks import int_in
    from vqaloop.models.catalogue import base_model_names

    if base:
        parser.add_argument("--base", required=True, choices=base_model_names(), help="base model name (registry)")
    parser.add_argument("--hidden", type=int_in(1, 1 << 16), default=128)
