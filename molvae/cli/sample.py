"""molvae sample: decode draws from the model's prior (fitted aggregate posterior, or N(0, I))."""

from __future__ import annotations

import argparse

from molvae import api
from molvae.chem import compute_properties
from molvae.cli.common import TABLE_OUTPUT, add_common, add_image, add_output, keywords_from_args, start, write_output
from molvae.errors import InputError
from molvae.models.prior import PRIOR_KINDS
from molvae.models.ring_limit import DEFAULT_MAX_RING
from molvae.viz.drawing import molecule_grid

HELP = "sample new molecules from the prior and report validity, uniqueness and novelty"
DESCRIPTION = HELP + "."
IMAGE_MOLECULES = 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--num-samples", type=int, default=1000, help="number of prior draws (default: 1000)")
    add_output(p, TABLE_OUTPUT, required=True)
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="0 = greedy decoding; > 0 samples tokens from softmax(logits / T) (default: the model's own "
        "choice, made on the validation split and stored in it; the bundled model's is in its model card)",
    )
    p.add_argument(
        "--index-temperature",
        type=float,
        default=None,
        metavar="T",
        help="with --temperature > 0: the temperature of the tokens that give a ring's or branch's size "
        "(SELFIES index tokens; 0 = greedy), where a wrong pick breaks a ring (default: the model's "
        "own choice, else the same as --temperature)",
    )
    p.add_argument(
        "--prior",
        choices=PRIOR_KINDS,
        default="auto",
        help="where latent points are drawn: 'fitted' = the Gaussian mixture fitted to where the encoder "
        "puts training molecules (stored in the model), 'standard' = N(0, I), 'auto' = fitted when "
        "the model has one (default: auto)",
    )
    p.add_argument(
        "--train",
        metavar="FILE",
        help="training molecules, to report novelty (default: the "
        "training-set hashes stored in the model, when it has them)",
    )
    p.add_argument(
        "--condition",
        nargs="+",
        metavar="NAME=VALUE",
        help="conditional model only: requested property values, e.g. qed=0.9 logp=2.5 (the mean and "
        "standard deviation of each property over the samples are printed, beside those of the "
        "same draws decoded at the training-average condition: column average_smiles)",
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=1.0,
        metavar="W",
        help="with --condition: decode from l_avg + W (l_cond - l_avg), where l_avg are the decoder's "
        "logits at the training-average condition; W > 1 follows the request more strongly "
        "(classifier-free-style guidance), at some cost in diversity (default: 1, plain CVAE)",
    )
    p.add_argument(
        "--no-repair",
        action="store_true",
        help="keep under-bonded bracket atoms as RDKit reads them (radicals) instead of reading a "
        "stereocentre or cation written with too few neighbours as the plain atom; the 'repaired' "
        "column marks the molecules this changed",
    )
    p.add_argument(
        "--max-ring",
        type=int,
        default=DEFAULT_MAX_RING,
        metavar="N",
        help="while decoding, mask a ring closure that would make a ring of more than N atoms (the "
        "decoder writes its next choice there); the 'ring_masked' column marks the molecules "
        f"this changed; 0 = no limit (default: {DEFAULT_MAX_RING}, chosen on the validation split)",
    )
    p.add_argument("--latents", action="store_true", help="also write the sampled latent vectors (z0..)")
    add_image(
        p,
        f"also draw the first {IMAGE_MOLECULES} distinct valid samples (with QED and novelty) as a grid (.png or .svg)",
    )
    add_common(p, purpose="sample")


def run(args: argparse.Namespace) -> int:
    requested = _parse_condition(args.condition) if args.condition else None
    model, _ = start(args, read_input=False)
    frame = api.sample(
        model,
        args.num_samples,
        **keywords_from_args(
            api.sample,
            args,
            condition=requested,
            repair=not args.no_repair,
            reference=args.train,
            compare_average=bool(requested),
        ),
    )
    summary = api.summarize_samples(frame, requested)
    report = f"validity {summary['validity']:.4f}, uniqueness {summary['uniqueness']:.4f}"
    if not args.no_repair:
        report += f", repaired {summary['repaired']:.4f}"
    if "ring_masked" in summary:
        report += f", ring-masked {summary['ring_masked']:.4f}"
    if summary.get("novelty") is not None:
        report += f", novelty {summary['novelty']:.4f}" + ("" if args.train else " (vs the model's training set)")
    write_output(frame, args.output)
    if args.image:
        draw_samples(frame, args.image)
        report += f"; grid -> {args.image}"
    print(f"sampled {summary['n']} molecules: {report} -> {args.output}")
    for name, c in summary.get("conditions", {}).items():
        print(
            f"  {name}: requested {c['requested']:g}, samples {c['mean']:.3f} ± {c['std']:.3f} "
            f"(mean absolute error {c['mae']:.3f}); same draws at the average condition: "
            f"{c['average_mean']:.3f} ± {c['average_std']:.3f}"
        )
    return 0


def _parse_condition(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--condition takes NAME=VALUE pairs such as qed=0.9, not {item!r}") from None
        if not sep:
            raise InputError(f"--condition takes NAME=VALUE pairs such as qed=0.9, not {item!r}")
    return out


def draw_samples(frame, path: str) -> None:
    """Grid of the first distinct valid samples; legends: row in the output, QED, novel or known."""
    rows: dict[str, int] = {}
    for i, (s, ok) in enumerate(zip(frame["smiles"], frame["valid"], strict=True)):
        if ok and s not in rows and len(rows) < IMAGE_MOLECULES:
            rows[s] = i
    shown = list(rows)
    qed = compute_properties(shown, ["qed"])[:, 0]
    novel = frame["novel"].to_numpy() if "novel" in frame else None
    status = {True: "\nnovel", False: "\nin training set"}
    legends = [
        f"sample {rows[s]}  QED {q:.2f}" + ("" if novel is None else status[bool(novel[rows[s]])])
        for s, q in zip(shown, qed, strict=True)
    ]
    molecule_grid(shown, legends, path, mols_per_row=6, size=220)
