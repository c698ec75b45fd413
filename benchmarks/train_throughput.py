#!/usr/bin/env python
"""Training throughput (molecules/s, forward + backward + Adam step) on this machine.

Compares, in one run on the same batches: fp32 against bf16 autocast, and the encoder we ship
(forward GRU + backward GRU over padded batches) against one bidirectional GRU over packed
sequences. Writes benchmarks/results/train_throughput.json and .md.

    python benchmarks/train_throughput.py            # 3 timed passes over 2,048 molecules
    python benchmarks/train_throughput.py --quick    # 1 timed pass over 1,024 molecules
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from molvae.config import ModelConfig
from molvae.data.datasets import BucketBatchSampler, PropertyScaler, collate, prepare_molecules
from molvae.data.vocab import Vocabulary, get_representation
from molvae.models.vae import MolVAE
from molvae.training.loop import vae_loss

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, save_results  # noqa: E402


class PackedBidirectionalEncoder(nn.Module):
    """The alternative we measured against: one bidirectional GRU over packed sequences."""

    def __init__(self, ref) -> None:
        super().__init__()
        self.embedding = ref.embedding
        hidden = ref.forward_gru.hidden_size
        self.gru = nn.GRU(ref.embedding.embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.to_mu, self.to_logvar = ref.to_mu, ref.to_logvar

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        h = torch.cat([h[-2], h[-1]], dim=-1)
        return self.to_mu(h), self.to_logvar(h)


def measure(model, batches, amp: bool, passes: int) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    ctx = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else (lambda: torch.autocast("cpu", enabled=False))
    )

    def step(b):
        with ctx():
            out = model(b["tokens"], b["lengths"])
        loss = vae_loss(out, b["tokens"], b["targets"], 0.05, 0.05, 1.0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(batches[0])  # warm-up
    n, t0 = 0, time.perf_counter()
    for _ in range(passes):
        for b in batches:
            step(b)
            n += b["tokens"].shape[0]
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    n, passes = (1024, 1) if args.quick else (2048, 3)
    smiles = pd.read_csv(HERE.parent / "data" / "moses_sample.csv")["smiles"].tolist()[:n]
    prep = prepare_molecules(smiles, get_representation("selfies"))
    vocab = Vocabulary.build(t for t in prep.tokens if t)
    seqs = [vocab.encode(t) for t in prep.tokens if t]
    targets = np.zeros((len(seqs), 3), dtype=np.float32)
    sampler = BucketBatchSampler(np.array([len(s) for s in seqs]), args.batch_size, seed=0)
    batches = [collate([(seqs[i], targets[i]) for i in b]) for b in sampler.batches()]
    scaler = PropertyScaler(("logp", "qed", "sa"), (0.0,) * 3, (1.0,) * 3)
    rows = []
    for encoder in ("forward+backward GRU (shipped)", "packed bidirectional GRU"):
        for amp in (False, True):
            torch.manual_seed(0)
            model = MolVAE(ModelConfig(max_length=80, dropout=0.0), vocab, scaler)
            if encoder.startswith("packed"):
                model.encoder = PackedBidirectionalEncoder(model.encoder)
            rows.append(
                {
                    "encoder": encoder,
                    "precision": "bf16 autocast" if amp else "fp32",
                    "mol_per_s": measure(model, batches, amp, passes),
                }
            )
            print(rows[-1], flush=True)
    base = rows[0]["mol_per_s"]
    for r in rows:
        r["speedup_vs_fp32_shipped"] = r["mol_per_s"] / base
    result = {
        "benchmark": "train_throughput",
        "quick": args.quick,
        "molecules": len(seqs),
        "passes": passes,
        "batch_size": args.batch_size,
        "model": "default ModelConfig (1.6 M parameters), dropout 0",
        "hardware": f"{os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "rows": rows,
    }
    stem = "train_throughput_quick" if args.quick else "train_throughput"
    md = [
        f"Training throughput, MOSES sample, batch {args.batch_size}; {result['hardware']}.",
        "",
        "| encoder | precision | molecules/s | vs fp32 shipped |",
        "|---|---|---|---|",
    ]
    md += [
        f"| {r['encoder']} | {r['precision']} | {r['mol_per_s']:.0f} | {r['speedup_vs_fp32_shipped']:.2f}x |"
        for r in rows
    ]
    save_results(args.out, stem, result, "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
