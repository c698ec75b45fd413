# %% [markdown]
# # Encode a library, map it, and find neighbours
#
# Encode a small compound library into latent vectors and predicted properties, draw the latent
# space coloured by a property, and find the library compounds nearest to a query molecule.

# %%
from tutorial import DATA, output_dir, setting

import molvae
from molvae import chem
from molvae.viz.plots import latent_map

OUT = output_dir()
ROWS = setting("ROWS", 500)

model = molvae.load("zinc250k_selfies")
library = molvae.io.read_molecules(DATA)
library = molvae.io.MoleculeTable(library.frame.head(ROWS), library.smiles_column, library.id_column)

# %% [markdown]
# Every input row comes back, in order: `row`, `input_smiles`, canonical `smiles`, `valid`,
# `reason`, the predicted properties `pred_*` and the latent mean `z0..`.

# %%
encoded = molvae.encode(model, library)
print(encoded.filter(regex="^(row|smiles|valid|pred_)").head())
ok = encoded[encoded["valid"]]
z = ok.filter(regex=r"^z\d+$").to_numpy()
print(f"{len(ok)} of {len(encoded)} molecules encoded to {z.shape[1]} dimensions")

# %% [markdown]
# The latent space projected with PCA, coloured by QED computed with RDKit.

# %%
qed = chem.compute_properties(ok["smiles"].tolist(), ["qed"])[:, 0]
latent_map(z, qed, OUT / "latent_map.png", "qed")

# %% [markdown]
# Nearest neighbours of a query among the encoded library (write it to a file first: `neighbors`
# reads an encoded library, the output of `molvae encode` or `encoded.to_parquet`).

# %%
encoded.to_parquet(OUT / "library.parquet", index=False)
hits = molvae.neighbors(model, OUT / "library.parquet", "CC(=O)Nc1ccc(O)cc1", k=5, rerank=True)
print(hits[["rank", "distance", "similarity", "smiles"]])
assert len(hits) == 5
molvae.show(hits, legend=["distance", "similarity"], path=OUT / "neighbors.png")
