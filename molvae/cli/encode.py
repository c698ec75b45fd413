"""molvae encode: latent means (optionally log-variances) and predicted properties per molecule,
streamed chunk by chunk (bounded memory), on local worker processes or on a Dask cluster."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.cli.common import (
    add_common,
    add_input,
    add_output,
    check_output,
    config_from_args,
    keywords_from_args,
    load_model,
    setup_logging,
    show_progress,
)
from molvae.errors import InputError
from molvae.library.stream import StreamConfig

HELP = "encode molecules to latent vectors and predicted properties"
DESCRIPTION = (
    HELP + ". The input is streamed in chunks: RDKit and "
    "SELFIES work runs in --workers processes while the encoder runs, and each finished chunk "
    "is written to disk as it goes (OUT.partial/, assembled into OUT at the end), so memory "
    "stays flat however large the library and a killed run can --resume. Every input row "
    "is in the output, in input order (column 'row'), with its id; rows that cannot be "
    "encoded have valid=False, a reason and empty latents."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_output(
        p,
        "output .parquet (recommended for large libraries), .csv/.tsv (.gz allowed), or .npy "
        "(latent means only, n x d, NaN rows for invalid; those rows also go to "
        "OUT.rejects.csv); with --engine dask, a directory for a partitioned Parquet dataset",
        required=True,
    )
    p.add_argument("--logvar", action="store_true", help="also write log-variances (columns logvar0..)")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="processes for RDKit canonicalization and SELFIES tokenization (default 0: all "
        "cores; 1: no extra processes)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="torch threads for the encoder (default 0: half the cores beside --workers processes, "
        "all cores without them)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=10_000,
        metavar="ROWS",
        help="rows read, prepared and written at a time (default: 10000)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="molecules per forward pass (default: 256)")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "auto"],
        default="auto",
        help="encoder arithmetic: auto (default: bf16 autocast where the hardware supports it, "
        "else fp32), bf16, or fp32 (exact, slower). bf16 latents differ from fp32 by about "
        "0.6%% of their norm; reconstruction from them is as good",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an encode that was interrupted (killed, out of time, Ctrl-C) from its last "
        "finished chunk. Every run keeps its finished chunks in OUT.partial/ until the output "
        "is complete; --resume checks that the input file, the model and the settings that "
        "shape the output (--chunk-size, --batch-size, --precision, --logvar, columns) are "
        "unchanged, skips the finished rows and gives the same output as an uninterrupted "
        "run. Without --resume, a leftover OUT.partial/ is an error, never reused",
    )
    p.add_argument(
        "--engine",
        choices=["local", "dask"],
        default="local",
        help="local processes (default) or Dask tasks over partitions of a CSV/Parquet dataset "
        "(needs 'pip install molvae[dask]')",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="--engine dask: address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786 "
        "(default: a LocalCluster on this machine with --workers processes)",
    )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    config = config_from_args(StreamConfig, args)
    if args.engine == "local":
        check_output(args.output)
    elif args.resume:  # before the model loads
        raise InputError("--resume works with --engine local, not with --engine dask")
    model = load_model(args)
    summary = api.encode_file(
        model,
        args.input,
        args.output,
        config,
        **keywords_from_args(api.encode_file, args, progress=show_progress(args)),
    )
    n_bad = summary.n_rows - summary.n_valid
    detail = ": " + ", ".join(f"{k} {v}" for k, v in summary.reasons.most_common()) if summary.reasons else ""
    resumed = f"; {summary.resumed_rows} of them by the interrupted run" if summary.resumed_rows else ""
    print(
        f"encoded {summary.n_valid} of {summary.n_rows} molecules ({n_bad} invalid{detail}; marked in the "
        f"output{resumed}) in {summary.seconds:.1f} s ({summary.rate:.0f} molecules/s) -> {args.output}"
    )
    return 0
