"""Streaming encode: chunked == whole-file, every row accounted for, every output format."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from molvae.errors import InputError
from molvae.io import iter_molecule_chunks, read_molecules
from molvae.stream import StreamConfig, encode_file

BAD = ["", "nan", "C1CC", "[U]", "CC(=O)O.[Na+]", "not a smiles"]


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory, sample_smiles):
    """The sample molecules with invalid inputs mixed in at known rows."""
    smiles = list(sample_smiles)
    for k, bad in enumerate(BAD):
        smiles.insert(7 * k + 3, bad)
    path = tmp_path_factory.mktemp("lib") / "mixed.csv"
    pd.DataFrame({"compound_id": [f"c{i}" for i in range(len(smiles))], "smiles": smiles}).to_csv(path, index=False)
    return path


def _z(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c[0] == "z" and c[1:].isdigit()]].to_numpy(dtype=np.float64)


def test_chunked_equals_whole_file_and_model_encode(tiny_model, mixed_csv, tmp_path):
    whole = encode_file(tiny_model, mixed_csv, tmp_path / "whole.parquet",
                        StreamConfig(chunk_size=10_000, workers=1, precision="fp32"))
    chunked = encode_file(tiny_model, mixed_csv, tmp_path / "chunked.parquet",
                          StreamConfig(chunk_size=7, workers=2, batch_size=5, precision="fp32"))
    a, b = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "chunked.parquet")
    n = len(read_molecules(mixed_csv))
    assert whole.n_rows == chunked.n_rows == len(a) == len(b) == n
    assert a["row"].tolist() == list(range(n)) == b["row"].tolist()
    pd.testing.assert_frame_equal(a.drop(columns=[c for c in a.columns if c[0] == "z" or c.startswith("pred_")]),
                                  b.drop(columns=[c for c in b.columns if c[0] == "z" or c.startswith("pred_")]))
    np.testing.assert_allclose(_z(a), _z(b), atol=1e-5)
    # ... and both equal the in-memory library API
    enc = tiny_model.encode(read_molecules(mixed_csv).smiles)
    np.testing.assert_allclose(_z(a), enc.mu, atol=1e-5)
    assert a["valid"].to_numpy().tolist() == enc.valid.tolist()


def test_bf16_latents_are_close_to_fp32(tiny_model, mixed_csv, tmp_path):
    encode_file(tiny_model, mixed_csv, tmp_path / "a.parquet", StreamConfig(precision="fp32"))
    encode_file(tiny_model, mixed_csv, tmp_path / "b.parquet", StreamConfig(precision="bf16"))
    a, b = _z(pd.read_parquet(tmp_path / "a.parquet")), _z(pd.read_parquet(tmp_path / "b.parquet"))
    ok = np.isfinite(a).all(axis=1)
    assert np.array_equal(ok, np.isfinite(b).all(axis=1))
    assert np.abs(a[ok] - b[ok]).max() < 0.05 * max(1.0, np.abs(a[ok]).max())


def test_every_row_accounted_for_with_reasons(tiny_model, mixed_csv, tmp_path):
    summary = encode_file(tiny_model, mixed_csv, tmp_path / "out.csv", StreamConfig(chunk_size=5, workers=2))
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype={"input_smiles": str})
    src = pd.read_csv(mixed_csv, keep_default_na=False, dtype=str)
    assert len(out) == len(src) and out["compound_id"].tolist() == src["compound_id"].tolist()
    assert out["input_smiles"].tolist() == src["smiles"].tolist()
    bad = out[out["input_smiles"].isin(BAD)]
    assert len(bad) == len(BAD) and not bad["valid"].astype(str).eq("True").any()
    assert all(bad["reason"].str.len() > 0)
    assert summary.n_rows - summary.n_valid == len(BAD)
    assert sum(summary.reasons.values()) == len(BAD)


def test_npy_output_and_rejects_file(tiny_model, mixed_csv, tmp_path):
    encode_file(tiny_model, mixed_csv, tmp_path / "z.npy", StreamConfig(chunk_size=9, workers=1))
    z = np.load(tmp_path / "z.npy")
    rejects = pd.read_csv(tmp_path / "z.rejects.csv", keep_default_na=False)
    assert z.shape == (len(read_molecules(mixed_csv)), tiny_model.latent_dim)
    assert sorted(rejects["row"]) == sorted(np.flatnonzero(np.isnan(z).all(axis=1)).tolist())
    assert len(rejects) == len(BAD)


@pytest.mark.parametrize("suffix", [".smi.gz", ".sdf", ".parquet", ".tsv"])
def test_chunked_readers_match_whole_reader(tmp_path, sample_smiles, suffix):
    from rdkit import Chem

    smiles = sample_smiles[:23]
    path = tmp_path / f"lib{suffix}"
    if suffix == ".smi.gz":
        with gzip.open(path, "wt") as f:
            f.write("smiles name\n" + "".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
    elif suffix == ".sdf":
        with Chem.SDWriter(str(path)) as w:
            for i, s in enumerate(smiles):
                m = Chem.MolFromSmiles(s)
                m.SetProp("_Name", f"m{i}")
                w.write(m)
    elif suffix == ".parquet":
        pd.DataFrame({"smiles": smiles}).to_parquet(path, row_group_size=4)
    else:
        pd.DataFrame({"smiles": smiles, "id": range(len(smiles))}).to_csv(path, sep="\t", index=False)
    chunks = list(iter_molecule_chunks(path, chunk_size=5))
    assert len(chunks) >= 4 and all(1 <= len(c) <= 5 for c in chunks)
    assert sum(len(c) for c in chunks) == len(smiles)
    assert [s for c in chunks for s in c.smiles] == read_molecules(path).smiles


def test_failed_encode_leaves_no_output(tiny_model, tmp_path):
    with pytest.raises(InputError, match="not found"):
        encode_file(tiny_model, tmp_path / "missing.csv", tmp_path / "o.parquet")
    src = tmp_path / "in.csv"
    src.write_text("smiles\nCCO\n")
    with pytest.raises(InputError, match="column"):
        encode_file(tiny_model, src, tmp_path / "o.parquet", smiles_column="nope")
    assert not (tmp_path / "o.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.parquet")]


def test_empty_input_gives_empty_output(tiny_model, tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("smiles\n")
    summary = encode_file(tiny_model, src, tmp_path / "o.parquet")
    assert summary.n_rows == 0 and len(pd.read_parquet(tmp_path / "o.parquet")) == 0
