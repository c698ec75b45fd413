"""Gradient ascent on latent points against the jointly trained property predictor.

The predictor is a cheap surrogate; decoded molecules are re-scored with the true objective, and
those scores (oracle calls, cached, within a budget) are what the result reports.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from molvae.errors import InputError
from molvae.model import MolVAE
from molvae.search.bo import OptimizationResult, _Ledger
from molvae.search.objectives import Objective, predicted_score


def gradient_ascent(model: MolVAE, objective: Objective, budget: int = 300, n_starts: int = 10,
                    steps: int = 200, learning_rate: float = 0.05, decode_every: int = 10,
                    init_smiles: Sequence[str] | None = None, seed: int = 0,
                    progress: bool = True) -> OptimizationResult:
    """Adam on latent points against the property-predictor surrogate of ``objective``; every
    ``decode_every`` steps the points are decoded and new molecules re-scored with the true objective
    (oracle calls, at most ``budget``). Starts: the initial library's latent means, else prior draws."""
    if objective.surrogate is None or not objective.needs:
        raise InputError(f"gradient ascent needs an objective the property predictor covers; {objective.name!r} "
                         "is not one (try qed, logp, sa, penalized_logp or a desirability spec of those)")
    missing = [n for n in objective.needs if n not in model.property_names]
    if missing:
        raise InputError(f"this model does not predict {', '.join(missing)} (it predicts "
                         f"{', '.join(model.property_names) or 'nothing'})")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if init_smiles is not None:
        enc = model.encode(init_smiles)
        z0 = enc.mu[enc.valid][:n_starts]
        if not len(z0):
            raise InputError("no initial molecule can be encoded by this model")
    else:
        z0 = rng.standard_normal((n_starts, model.latent_dim)).astype(np.float32)
    bar = tqdm(total=budget, desc=f"gradient {objective.name}", unit="call", disable=not progress, file=sys.stderr)
    ledger = _Ledger(objective, budget, model.latent_dim, bar)
    z = torch.tensor(z0, device=model.device, requires_grad=True)
    optimizer = torch.optim.Adam([z], lr=learning_rate)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    trace = []
    try:
        for step in range(steps + 1):
            if step % decode_every == 0 or step == steps:
                current = z.detach().cpu().numpy()
                ledger.evaluate(model.decode(current), current.astype(np.float64), step, "gradient")
                best = ledger.best()
                trace.append({"step": step, "calls": ledger.calls, "best_score": best[0], "best_smiles": best[1]})
                bar.set_postfix(best=f"{best[0]:.4g}", refresh=False)
                if ledger.remaining <= 0:
                    break
            # maximize the surrogate; a weak pull towards the prior keeps z where the decoder has been trained
            loss = -predicted_score(model, objective, z).sum() + 1e-3 * z.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        bar.close()
    return OptimizationResult(ledger.frame(), pd.DataFrame(trace), objective.name, time.perf_counter() - t0)
