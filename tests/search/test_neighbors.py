import numpy as np
import pandas as pd
import pytest

from molvae.cli.main import main
from molvae.errors import InputError
from molvae.search.neighbors import LatentLibrary


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_model_path, sample_smiles):
    d = tmp_path_factory.mktemp("lib")
    src = d / "lib.csv"
    pd.DataFrame(
        {"id": [f"c{i}" for i in range(len(sample_smiles) + 1)], "smiles": sample_smiles + ["not a smiles"]}
    ).to_csv(src, index=False)
    out = d / "lib.parquet"
    assert (
        main(["encode", str(src), "-o", str(out), "--model", str(tiny_model_path), "-q", "--precision", "fp32"]) == 0
    )  # exact latents, as the queries are encoded in fp32
    return out


def test_a_library_member_is_its_own_nearest_neighbour(library, tiny_model):
    lib = LatentLibrary.from_file(library)
    assert len(lib.z) == len(lib.frame) and lib.frame["valid"].all()  # the invalid row is not indexed
    members = lib.frame["smiles"].tolist()[:5]
    hits = lib.query(tiny_model.encode(members).mu, k=3, query_smiles=members)
    first = hits[hits["rank"] == 1]
    assert first["smiles"].tolist() == members and np.allclose(first["distance"], 0, atol=1e-4)
    assert (first["similarity"] == 1.0).all() and "id" in hits.columns
    assert (np.diff(hits[hits["query"] == 0]["distance"]) >= 0).all()
    with pytest.raises(InputError, match="latent"):
        lib.query(np.zeros((1, lib.latent_dim + 1)), k=2)


def test_neighbors_cli_and_optimize_library(library, tiny_model_path, sample_smiles, tmp_path, capsys):
    out = tmp_path / "hits.csv"
    model = ["--model", str(tiny_model_path)]
    query = ["--query", sample_smiles[3], "-k", "4", "--rerank"]
    assert main(["neighbors", "--library", str(library), *query, "-o", str(out), *model, "-q"]) == 0
    hits = pd.read_csv(out)
    assert len(hits) == 4 and hits["smiles"].iloc[0] == sample_smiles[3]
    assert sample_smiles[3] in capsys.readouterr().out
    assert main(["neighbors", "--library", str(tmp_path / "nope.parquet"), "--query", "CCO", *model]) == 2
    opt = tmp_path / "opt.csv"
    flags = "--method bo --objective qed --budget 20 --n-init 10 --batch-size 5 --pool-size 32 --top 3 -q"
    assert main(["optimize", *flags.split(), *model, "--library", str(library), "-o", str(opt)]) == 0
    assert "nearest library compounds" in capsys.readouterr().out
    near = pd.read_csv(tmp_path / "opt.neighbors.csv")
    assert len(near) == 9 and {"top_smiles", "smiles", "distance", "similarity"} <= set(near.columns)
