"""The training loop: KL schedules with free bits, masked property loss,
bf16 autocast, per-epoch validation, atomic best/last checkpoints and exact resume.

Example:
    >>> from molvae.config import RunConfig
    >>> result = train("data/moses_sample.csv", "runs/demo", RunConfig())   # doctest: +SKIP
    >>> result.best_path                                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import logging
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from molvae.config import RunConfig
from molvae.data.datasets import BucketBatchSampler, PropertyScaler, SequenceDataset, collate, resolve_workers
from molvae.data.vocab import Vocabulary
from molvae.errors import ConfigError, InputError, MolvaeError
from molvae.io import read_molecules, write_table
from molvae.models import checkpoint
from molvae.models.vae import MolVAE
from molvae.pretrained import resolve_model
from molvae.training import runs
from molvae.training.data import PreparedData, epoch_training_set, prepare_training_data
from molvae.training.distributed import all_reduce_sum, barrier, distributed_context, init_distributed, shutdown
from molvae.utils import atomic_path, autocast_dtype, file_sha256, resolve_device, seed_everything, torch_threads

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    best_path: Path
    last_path: Path
    metrics: list[dict[str, Any]]


# ----------------------------------------------------------------------------- loss and schedules


def kl_weight(step: int, total_steps: int, steps_per_epoch: int, cfg) -> float:
    """KL weight at an optimizer step: constant, monotonic warm-up, or cyclical (Fu et al. 2019:
    each cycle ramps linearly over its first half and holds beta over the second)."""
    if cfg.kl_schedule == "constant":
        return cfg.beta
    if cfg.kl_schedule == "monotonic":
        warmup = cfg.kl_warmup_epochs * steps_per_epoch
        return cfg.beta if warmup <= 0 else cfg.beta * min(1.0, step / warmup)
    period = max(1.0, total_steps / cfg.kl_cycles)
    phase = (step % period) / period
    return cfg.beta * min(1.0, phase / 0.5)


def learning_rate(step: int, total_steps: int, cfg) -> float:
    """Cosine decay from ``learning_rate`` to ``min_learning_rate`` over the run, after a linear
    warm-up over the first ``warmup_steps`` steps."""
    progress = min(1.0, step / max(1, total_steps))
    lr = cfg.min_learning_rate + 0.5 * (cfg.learning_rate - cfg.min_learning_rate) * (1 + math.cos(math.pi * progress))
    if step < cfg.warmup_steps:
        lr *= (step + 1) / cfg.warmup_steps
    return lr


def vae_loss(
    out: dict[str, torch.Tensor],
    tokens: torch.Tensor,
    targets: torch.Tensor,
    beta: float,
    free_bits: float,
    property_weight: float,
    pad_index: int = 0,
) -> dict[str, torch.Tensor]:
    """Loss = reconstruction + beta * KL + property_weight * masked property MSE.

    Reconstruction is the token cross-entropy summed over each molecule and averaged over the batch;
    KL is summed over latent dimensions, each dimension's batch-mean KL clamped below at
    ``free_bits`` nats (Kingma et al. 2016); the property MSE averages only the observed
    (non-NaN) standardized labels, so partially labelled data trains.
    """
    logits = out["logits"].float()
    target = tokens[:, 1:]
    mask = target != pad_index
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    ce = ce.view_as(target) * mask
    batch = tokens.shape[0]
    recon = ce.sum() / batch
    mu, logvar = out["mu"].float(), out["logvar"].float()
    kl_per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)
    kl = kl_per_dim.sum()
    kl_penalized = torch.clamp(kl_per_dim, min=free_bits).sum() if free_bits > 0 else kl
    prop = masked_mse(out["properties"].float(), targets)
    loss = recon + beta * kl_penalized + property_weight * prop
    with torch.no_grad():
        correct = ((logits.argmax(-1) == target) & mask).sum()
    return {"loss": loss, "recon": recon, "kl": kl, "prop": prop, "correct": correct, "n_tokens": mask.sum()}


def masked_mse(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the finite entries of ``targets`` (``batch x n_properties``); 0 if none."""
    if targets.numel() == 0:
        return pred.sum() * 0.0
    observed = torch.isfinite(targets)
    if not bool(observed.any()):
        return pred.sum() * 0.0
    diff = torch.where(observed, pred - torch.nan_to_num(targets), torch.zeros_like(pred))
    return diff.pow(2).sum() / observed.sum()


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    model: MolVAE, data: PreparedData, run: RunConfig, beta: float, amp: torch.dtype | None
) -> dict[str, float]:
    """Validation loss parts (z = latent mean, so deterministic), teacher-forced token accuracy,
    greedy reconstruction accuracy on the first ``recon_eval_size`` molecules, property MAE."""
    model.eval()
    device = model.device
    if len(data.valid) == 0:
        model.train()
        return {}
    sampler = BucketBatchSampler(data.valid.lengths, run.train.batch_size, shuffle=False)
    totals = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "prop": 0.0}
    correct = n_tokens = 0
    n = 0
    preds = np.full((len(data.valid), len(data.scaler.names)), np.nan)
    for batch_idx in sampler:
        batch = collate([data.valid[i] for i in batch_idx])
        tokens, lengths, targets = batch["tokens"].to(device), batch["lengths"], batch["targets"].to(device)
        with _autocast(device, amp):
            out = model(tokens, lengths, sample=False, properties=targets)
        parts = vae_loss(out, tokens, targets, beta, run.train.free_bits, run.train.property_weight)
        b = tokens.shape[0]
        for k in totals:
            totals[k] += float(parts[k].detach()) * b
        correct += int(parts["correct"])
        n_tokens += int(parts["n_tokens"])
        n += b
        if preds.shape[1]:
            preds[batch_idx] = out["properties"].float().cpu().numpy()
    metrics = {f"val_{k}": v / n for k, v in totals.items()}
    metrics["val_token_acc"] = correct / max(1, n_tokens)
    k = min(run.train.recon_eval_size, len(data.valid))
    if k:
        mu = np.concatenate(
            [
                model.encode_tokens(*_stack(data.valid, range(s, min(k, s + 512)), device))[0].float().cpu().numpy()
                for s in range(0, k, 512)
            ]
        )
        condition = None
        if model.conditions:
            labels = np.stack([data.valid[i][1] for i in range(k)])
            condition = np.nan_to_num(labels[:, model.condition_index], nan=0.0)
        decoded = model.decode(mu, condition=condition)
        metrics["val_recon_acc"] = float(np.mean([d == s for d, s in zip(decoded, data.valid_smiles[:k])]))
        metrics["val_valid"] = float(np.mean([d is not None for d in decoded]))
    if preds.shape[1]:
        pred_raw = data.scaler.inverse(preds)
        for j, name in enumerate(data.scaler.names):
            ok = np.isfinite(data.valid_raw_props[:, j])
            metrics[f"val_mae_{name}"] = (
                float(np.abs(pred_raw[ok, j] - data.valid_raw_props[ok, j]).mean()) if ok.any() else float("nan")
            )
    model.train()
    return metrics


class WeightAverage:
    """An exponential moving average of a model's parameters (Polyak averaging; the EMA form used for
    generative models), kept in float32 beside the trained weights. ``decay`` 0 turns it off: every
    method is then a no-op. The decay ramps up as ``(1 + step) / (10 + step)`` early in a run, so a model
    trained from scratch is not averaged with its random initialization for thousands of steps."""

    def __init__(self, model: torch.nn.Module, decay: float, saved: list[torch.Tensor] | None = None) -> None:
        self.decay = decay
        self.shadow: list[torch.Tensor] = []
        if decay > 0:
            params = list(model.parameters())
            source = saved if saved is not None else [p.detach() for p in params]
            if len(source) != len(params):
                raise MolvaeError(f"the checkpoint's weight average has {len(source)} tensors, the model {len(params)}")
            self.shadow = [t.detach().to(p.device, torch.float32).clone() for t, p in zip(source, params)]

    def update(self, model: torch.nn.Module, step: int) -> None:
        if not self.shadow:
            return
        decay = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for a, p in zip(self.shadow, model.parameters()):
                a.lerp_(p.detach().float(), 1.0 - decay)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        """Within the block the model holds the averaged weights; its own are restored after."""
        if not self.shadow:
            yield
            return
        params = list(model.parameters())
        own = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, a in zip(params, self.shadow):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, o in zip(params, own):
                    p.copy_(o)

    def state(self) -> dict[str, Any]:
        """The entries the resume checkpoint keeps (none when averaging is off)."""
        return {"ema": [t.cpu() for t in self.shadow]} if self.shadow else {}


def _stack(ds: SequenceDataset, idx, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch = collate([ds[i] for i in idx])
    return batch["tokens"].to(device), batch["lengths"], batch["targets"].to(device)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ----------------------------------------------------------------------------- the loop


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def _write_config(path: Path, run: RunConfig, command: str | None) -> None:
    header = "# molvae training config (resolved)\n"
    if command:
        header += f"# command: {command}\n"
    with atomic_path(path) as tmp:
        tmp.write_text(header + "\n" + run.to_toml())


def train(
    data_path: str | Path,
    output_dir: str | Path,
    run: RunConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    init: str | Path | None = None,
    grow_decoder: int | None = None,
    dropout: float | None = None,
) -> TrainResult:
    """Train a MolVAE on a molecule file and write ``best.pt``, ``last.pt``, ``metrics.csv`` and
    ``config.toml`` into ``output_dir``. With ``resume``, continue from ``output_dir/last.pt``
    (its config, optimizer, schedule position and metrics), to the same result as an uninterrupted
    run with the same seed. ``on_epoch_end(epoch, metrics_row)`` is called after each epoch's
    checkpoints are written. ``init`` (a checkpoint path or bundled model name) warm-starts a new run
    from that model's weights: its architecture replaces ``run.model`` (tokens are matched by name,
    see :meth:`MolVAE.warm_start_from`); optimizer and schedules start afresh. ``grow_decoder`` (with
    ``init``) widens the initial model's decoder to that many GRU units without changing what it
    computes, so training can use the added capacity from where the initial model stands. ``dropout``
    (with ``init``): the new run's dropout rate instead of the initial model's (a regularizer for a
    model that has begun to overfit)."""
    run = run or RunConfig()
    if dropout is not None and (init is None or not 0.0 <= dropout < 1.0):
        raise ConfigError(
            f"dropout ({dropout}) replaces the dropout of the model given as init: give both, with a rate in [0, 1)"
        )
    if grow_decoder is not None and (init is None or grow_decoder < 1):
        raise ConfigError(
            f"grow_decoder ({grow_decoder}) widens the model given as init to that many units: give "
            "both, with at least one unit"
        )
    out = Path(output_dir)
    last_path = out / runs.LAST
    state: dict[str, Any] | None = None
    if resume:
        if not last_path.exists():
            raise InputError(f"cannot resume: {last_path} does not exist")
        state = checkpoint.read(last_path)
        resume_state = checkpoint.training_state(state, str(last_path))
        saved = RunConfig.from_dict(resume_state["run_config"])
        # Only the number of epochs may change on resume (to extend a finished run).
        run = saved.override("train", epochs=run.train.epochs if run.train.epochs != saved.train.epochs else None)
    elif last_path.exists():
        raise InputError(f"{out} already holds a run (last.pt); use --resume to continue it or choose another --output")
    ctx = distributed_context()

    tcfg = run.train
    threads = tcfg.num_threads
    if not threads and ctx.enabled:  # processes on one machine share its cores
        threads = max(1, resolve_workers(0) // int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)))
    with torch_threads(threads):  # the caller's thread count is restored afterwards
        return _train(data_path, out, run, state, ctx, progress, command, on_epoch_end, init, grow_decoder, dropout)


def _train(
    data_path: str | Path,
    out: Path,
    run: RunConfig,
    state: dict[str, Any] | None,
    ctx: Any,
    progress: bool,
    command: str | None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
    init: str | Path | None,
    grow_decoder: int | None = None,
    dropout: float | None = None,
) -> TrainResult:
    """The body of :func:`train`, with the run config resolved and the resume checkpoint read."""
    tcfg = run.train
    last_path, best_path = out / runs.LAST, out / runs.BEST
    resume_state = checkpoint.training_state(state, str(last_path)) if state is not None else None
    device = init_distributed(ctx, resolve_device(tcfg.device))
    amp = autocast_dtype(device, tcfg.precision)
    seed_everything(tcfg.seed)

    table = read_molecules(data_path, run.data.smiles_column, run.data.id_column)
    vocab = scaler = None
    if state is not None:
        vocab = Vocabulary.from_dict(state["model"]["vocabulary"])
        scaler = PropertyScaler.from_dict(state["model"]["properties"])
    data = prepare_training_data(table, run, vocab=vocab, scaler=scaler)
    initial = None
    if state is None:
        max_len = (run.data.max_tokens or data.max_tokens) + 2
        if init is not None:
            initial = MolVAE.load(resolve_model(str(init)))
            run = replace(
                run,
                model=replace(
                    initial.config,
                    max_length=max_len,
                    conditions=run.model.conditions,
                    decoder_hidden_dim=grow_decoder or initial.config.decoder_hidden_dim,
                    dropout=initial.config.dropout if dropout is None else dropout,
                ),
            )
        run = replace(run, model=replace(run.model, max_length=max_len))
    if ctx.is_main:  # only now: a file without usable molecules leaves no run directory behind
        out.mkdir(parents=True, exist_ok=True)
    if len(data.rejects) and ctx.is_main:
        write_table(data.rejects, out / runs.REJECTS)
    if ctx.is_main:
        _write_config(out / runs.CONFIG, run, command)
    logger.info(
        "train %d, valid %d molecules; vocabulary %d tokens; max length %d; device %s; autocast %s",
        len(data.train),
        len(data.valid),
        len(data.vocab),
        run.model.max_length,
        device,
        amp,
    )

    metadata = {
        "data_file": Path(data_path).name,
        "data_sha256": file_sha256(data_path),
        "n_train": len(data.train),
        "n_valid": len(data.valid),
        "n_rejected": len(data.rejects),
        "seed": tcfg.seed,
    }
    model = MolVAE(run.model, data.vocab, data.scaler, metadata).to(device)
    model.set_training_set(data.train_smiles)
    if initial is not None:
        counts = model.warm_start_from(initial)
        model.metadata["warm_start"] = {"from": str(init), "sha256": file_sha256(resolve_model(str(init))), **counts}
        logger.info("warm start from %s: %s", init, counts)
        del initial
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    sampler = BucketBatchSampler(
        data.train.lengths, tcfg.batch_size, seed=tcfg.seed, rank=ctx.rank, world_size=ctx.world_size
    )
    steps_per_epoch = len(sampler)
    total_steps = steps_per_epoch * tcfg.epochs
    start_epoch, step, best_score, history = 0, 0, math.inf, []
    if state is not None:
        model.load_state_dict(state["model"]["state_dict"])
        optimizer.load_state_dict(resume_state["optimizer"])
        start_epoch = int(resume_state["epoch"])
        step = int(resume_state["step"])
        best_score = float(resume_state["best_score"])
        history = list(resume_state["history"])
        logger.info("resuming from %s at epoch %d (step %d)", last_path, start_epoch, step)
    ema = WeightAverage(model, tcfg.ema_decay, resume_state.get("ema") if resume_state else None)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %d parameters", n_params)
    net: torch.nn.Module = model
    if ctx.enabled:  # gradients are averaged over the processes; each sees 1/world of the batches
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    for epoch in range(start_epoch, tcfg.epochs):
        # Every random draw of an epoch follows from (seed, epoch): resume reproduces it exactly.
        torch.manual_seed(tcfg.seed * 100_003 + epoch + 7919 * ctx.rank)
        sampler.set_epoch(epoch)
        train_set = epoch_training_set(data, run, epoch)  # batches keep the canonical lengths' buckets
        model.train()
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "prop": 0.0}
        seen = 0
        t0 = last_log = time.perf_counter()
        bar = tqdm(
            sampler.batches(),
            desc=f"epoch {epoch + 1}/{tcfg.epochs}",
            disable=not progress,
            leave=False,
            unit="batch",
            file=sys.stderr,
        )
        beta = kl_weight(step, total_steps, steps_per_epoch, tcfg)
        for batch_number, batch_idx in enumerate(bar, 1):
            batch = collate([train_set[i] for i in batch_idx])
            tokens, lengths = batch["tokens"].to(device), batch["lengths"]
            targets = batch["targets"].to(device)
            beta = kl_weight(step, total_steps, steps_per_epoch, tcfg)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, tcfg)
            with _autocast(device, amp):
                output = net(tokens, lengths, properties=targets)
            parts = vae_loss(output, tokens, targets, beta, tcfg.free_bits, tcfg.property_weight)
            if not torch.isfinite(parts["loss"]):
                raise MolvaeError(
                    f"training diverged at step {step} (loss is {float(parts['loss'])}); try a lower --learning-rate"
                )
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            if tcfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            optimizer.step()
            step += 1
            ema.update(model, step)
            b = tokens.shape[0]
            seen += b
            for k in sums:
                sums[k] += float(parts[k].detach()) * b
            if not progress and time.perf_counter() - last_log > 60:
                last_log = time.perf_counter()
                logger.info(
                    "epoch %d: batch %d/%d, recon %.2f, kl %.2f, beta %.3g, prop %.3f, %.0f mol/s",
                    epoch + 1,
                    batch_number,
                    steps_per_epoch,
                    float(parts["recon"].detach()),
                    float(parts["kl"].detach()),
                    beta,
                    float(parts["prop"].detach()),
                    seen / (last_log - t0),
                )
            bar.set_postfix(
                recon=f"{float(parts['recon'].detach()):.2f}",
                kl=f"{float(parts['kl'].detach()):.1f}",
                beta=f"{beta:.3g}",
                prop=f"{float(parts['prop'].detach()):.3f}",
                refresh=False,
            )
        bar.close()
        elapsed = time.perf_counter() - t0
        keys = list(sums)
        *totals, seen = all_reduce_sum([sums[k] for k in keys] + [float(seen)], device)
        sums = dict(zip(keys, totals))
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "lr": learning_rate(step, total_steps, tcfg),
            "kl_weight": beta,
        }
        row.update({f"train_{k}": v / max(1, seen) for k, v in sums.items()})
        if not ctx.is_main:  # rank 0 validates and writes; the others wait for it
            barrier()
            continue
        with ema.applied(model):  # validation and best.pt see the averaged weights when averaging is on
            row.update(evaluate(model, data, run, beta, amp))
        row["train_seconds"] = elapsed
        row["train_mol_per_s"] = seen / elapsed if elapsed > 0 else float("nan")
        history.append(row)
        # Selection score: validation loss at the final KL weight, so epochs compare across the schedule.
        score = (
            row.get("val_recon", row["train_recon"])
            + tcfg.beta * row.get("val_kl", row["train_kl"])
            + tcfg.property_weight * row.get("val_prop", row["train_prop"])
        )
        improved = score < best_score
        if improved:
            best_score = score
            with ema.applied(model):
                model.save(best_path, run={"epoch": epoch + 1, "run_config": run.to_dict()})
        model.save(
            last_path,
            run={"epoch": epoch + 1, "run_config": run.to_dict()},
            training={
                "epoch": epoch + 1,
                "step": step,
                "best_score": best_score,
                "history": checkpoint.plain(history),
                "optimizer": optimizer.state_dict(),
                "run_config": run.to_dict(),
                **ema.state(),
            },
        )
        _write_metrics(out / runs.METRICS, history)
        if epoch == start_epoch:  # the run directory now has its metrics: it is a run directory
            runs.write_manifest(out, "train", run, shlex.split(command) if command else None)
        logger.info(
            "epoch %d/%d: %s%s",
            epoch + 1,
            tcfg.epochs,
            ", ".join(
                f"{k} {v:.4g}"
                for k, v in row.items()
                if k.startswith(("train_recon", "train_kl", "val_recon", "val_mae", "val_valid"))
            ),
            " (best)" if improved else "",
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, row)
        barrier()
    if ctx.enabled:
        shutdown()
    if not best_path.exists():  # resumed a run that had already finished
        logger.info("run already complete at epoch %d", tcfg.epochs)
    return TrainResult(out, best_path, last_path, history)


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["molvae", *sys.argv[1:]])
