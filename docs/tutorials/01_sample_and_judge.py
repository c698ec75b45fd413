# %% [markdown]
# # Sample molecules and judge them as a chemist would
#
# Load the bundled model, draw molecules from its prior, and compare what a chemist checks first
# (radicals, fragments, size, rings, PAINS) with the same rates on real molecules. "Valid" is not
# enough: SELFIES makes almost any token string parse.
#
# Run it as a script (`python docs/tutorials/01_sample_and_judge.py`) or open it as a notebook
# (`jupytext --to notebook 01_sample_and_judge.py`). Settings are small so that it runs in CI.

# %%
import pandas as pd
from tutorial import DATA, output_dir, setting

import molvae
from molvae.evaluation.metrics import chemistry_metrics, uniqueness, validity

N = setting("SAMPLES", 300)
OUT = output_dir()

model = molvae.load("zinc250k_selfies")
print(model)

# %% [markdown]
# One row per prior draw: `smiles` (None where the decode is not a molecule), `valid`, `reason`,
# `repaired` (an under-bonded atom read as the plain atom) and `novel` (not in the training set).

# %%
samples = molvae.sample(model, N, seed=0)
print(samples.head())
smiles = [s if ok else None for s, ok in zip(samples["smiles"], samples["valid"])]
print(f"validity {validity(smiles):.3f}, uniqueness {uniqueness(smiles):.3f}, novel {samples['novel'].mean():.3f}")

# %% [markdown]
# The chemistry of the samples beside the same rates on 2,000 MOSES molecules (`ref_*`): each rate
# over *all* samples, so an invalid decode counts as a failure.

# %%
reference = pd.read_csv(DATA)["smiles"].tolist()
rates = chemistry_metrics(smiles, reference)
for key in ("radicals", "sanity", "moses_filters", "pains", "heavy_atoms"):
    print(f"{key:14s} samples {rates[key]:.3f}   data {rates['ref_' + key]:.3f}")
assert 0.0 <= rates["sanity"] <= 1.0

# %% [markdown]
# Look at them: in a notebook the grid below is drawn inline; here it is also saved.

# %%
grid = molvae.show(samples, n=12, path=OUT / "samples.png")
grid  # noqa: B018 (a notebook cell shows its last value)
