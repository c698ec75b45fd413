# %% [markdown]
# # Train on your own CSV, with partial labels
#
# A CSV with a `smiles` column and property columns; blank cells are missing labels, and the
# property loss skips them. Properties RDKit knows (logP, QED, SA, ...) need no column: they are
# computed. Here: 300 MOSES molecules, an "assay" column measured for half of them, one epoch of a
# small model (real models train for hours: see `scripts/zinc250k_v2.toml`).

# %%
import numpy as np
import pandas as pd
from tutorial import DATA, output_dir, setting

import molvae
from molvae.config import RunConfig
from molvae.training.loop import train

OUT = output_dir()
ROWS = setting("ROWS", 300)

frame = pd.read_csv(DATA).head(ROWS)
rng = np.random.default_rng(0)
assay = frame["smiles"].str.len() / 10 + rng.normal(0, 0.3, len(frame))  # a stand-in measurement
frame["assay"] = np.where(rng.random(len(frame)) < 0.5, assay.round(3).astype(str), "")  # half unmeasured
frame.to_csv(OUT / "my_molecules.csv", index=False)
print(frame.head())

# %% [markdown]
# The config is a frozen dataclass (TOML files hold the same fields); `properties` names file
# columns or RDKit properties.

# %%
config = RunConfig.from_dict(
    {
        "data": {"properties": ["assay", "qed"], "valid_fraction": 0.1},
        "model": {
            "embedding_dim": 32,
            "encoder_hidden_dim": 64,
            "decoder_hidden_dim": 64,
            "latent_dim": 16,
            "property_hidden_dim": 32,
        },
        "train": {"epochs": 1, "batch_size": 64, "recon_eval_size": 50},
    }
)
run_dir = OUT / "my_run"
if (run_dir / "last.pt").exists():
    import shutil

    shutil.rmtree(run_dir)
result = train(OUT / "my_molecules.csv", run_dir, config, progress=False)
print(pd.DataFrame(result.metrics)[["epoch", "train_recon", "val_recon", "train_prop"]])

# %% [markdown]
# The run directory holds `best.pt`, `last.pt`, `metrics.csv`, `config.toml` and a manifest; the
# checkpoint loads like any other model (after one epoch it writes mostly nonsense, as it should).

# %%
mine = molvae.load(result.best_path)
print(mine)
print(molvae.encode(mine, ["CCO", "c1ccccc1O"]).filter(like="pred_"))
assert mine.property_names == ("assay", "qed")
