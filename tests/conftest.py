"""Shared fixtures: a few dozen molecules and a tiny model trained for a few CPU steps; and helpers
that read /proc, for the tests of processes that must die with the one that started them."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from molvae.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "moses_sample.csv"

# Hand-written molecules (drugs and fragments), independent of any dataset.
DRUGS = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "CN1C(=O)N(C)c2ncn(C)c2C1=O",  # caffeine
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",  # ibuprofen
    "OC(=O)c1ccccc1O",  # salicylic acid
    "c1ccc2ccccc2c1",  # naphthalene
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",  # procaine
    "Clc1ccc(cc1)C(c1ccccc1)N1CCNCC1",
    "COc1ccc2[nH]cc(CCN(C)C)c2c1",
    "O=C(O)CCc1ccccc1",
]

TINY_MODEL = {
    "model": {
        "embedding_dim": 16,
        "encoder_hidden_dim": 32,
        "latent_dim": 8,
        "decoder_hidden_dim": 64,
        "property_hidden_dim": 16,
        "dropout": 0.0,
    },
    "train": {
        "epochs": 2,
        "batch_size": 32,
        "learning_rate": 0.005,
        "min_learning_rate": 0.001,
        "recon_eval_size": 20,
        "kl_warmup_epochs": 1.0,
        "num_threads": 2,
    },
}


@pytest.fixture(scope="session")
def sample_smiles() -> list[str]:
    """60 MOSES training molecules (the sample shipped in data/)."""
    return pd.read_csv(SAMPLE)["smiles"].tolist()[:60]


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory, sample_smiles) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    pd.DataFrame({"id": [f"mol{i}" for i in range(len(sample_smiles))], "smiles": sample_smiles}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_csv):
    """A tiny SELFIES model with a logP/QED head, trained for 2 epochs (a few seconds on CPU)."""
    from molvae.training.loop import train

    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig.from_dict({**TINY_MODEL, "data": {"properties": ["logp", "qed"]}})
    return train(tiny_csv, out, cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_model_path(tiny_run) -> Path:
    return tiny_run.best_path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from molvae import MolVAE

    return MolVAE.load(tiny_model_path)


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory, sample_smiles):
    """A small model trained on 30 molecules until it reconstructs them (about 15 s on 2 cores)."""
    from molvae.training.loop import train

    out = tmp_path_factory.mktemp("overfit")
    path = out / "few.csv"
    pd.DataFrame({"smiles": sample_smiles[:30], "split": "train"}).to_csv(path, index=False)
    cfg = RunConfig.from_dict(
        {
            "model": {
                "embedding_dim": 32,
                "encoder_hidden_dim": 64,
                "latent_dim": 16,
                "decoder_hidden_dim": 128,
                "dropout": 0.0,
            },
            "data": {"valid_fraction": 0.0},
            "train": {
                "epochs": 150,
                "batch_size": 30,
                "learning_rate": 0.01,
                "min_learning_rate": 0.003,
                "beta": 0.001,
                "kl_warmup_epochs": 50,
                "free_bits": 0.0,
                "num_threads": 2,
            },
        }
    )
    return train(path, out / "run", cfg, progress=False), sample_smiles[:30]


# ----------------------------------------------------------------------------- processes, read from /proc

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def live_children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (zombies, already dead, left out)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until_dead(pids: set[int], seconds: float = 30.0) -> set[int]:
    """Those of ``pids`` still alive after up to ``seconds`` (a generous deadline, polled)."""
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
