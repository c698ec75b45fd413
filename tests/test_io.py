import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molvae.errors import InputError
from molvae.io import read_latents, read_molecules, write_table


def test_csv_keeps_na_like_strings(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,smiles\na,CCO\nb,nan\nc,NA\nd,\ne,None\n")
    table = read_molecules(path)
    assert table.smiles == ["CCO", "nan", "NA", "", "None"]
    assert table.ids == ["a", "b", "c", "d", "e"]


def test_missing_column_lists_available(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("name,structure\na,CCO\n")
    with pytest.raises(InputError, match="available columns: name, structure"):
        read_molecules(path, smiles_column="smiles")
    with pytest.raises(InputError, match="no SMILES column"):
        read_molecules(path)
    assert read_molecules(path, smiles_column="structure").smiles == ["CCO"]


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_molecules(tmp_path / "nope.csv")
    (tmp_path / "x.xyz").write_text("CCO\n")
    with pytest.raises(InputError, match="unsupported input format"):
        read_molecules(tmp_path / "x.xyz")


@pytest.mark.parametrize(
    "name,content,detail",
    [
        ("e.csv", b"", "the file is empty"),
        ("h.csv", b"smiles,id\n", "it has a header (smiles, id) but no rows"),
        ("h.tsv", b"smiles\tid\n", "it has a header (smiles, id) but no rows"),
        ("e.csv.gz", gzip.compress(b""), "the file is empty"),
        ("h.smi", b"smiles\n", "it has no SMILES lines"),
        ("e.smi.gz", gzip.compress(b""), "it has no SMILES lines"),
        ("e.sdf", b"", "it has no records"),
        ("e.parquet", None, "it has no rows"),
    ],
)
def test_a_file_without_molecules_is_one_error_for_every_reader(tmp_path, name, content, detail):
    """read_molecules and the chunked reader (molvae encode) refuse it alike, the chunked one at the call."""
    from molvae.io import iter_molecule_chunks

    path = tmp_path / name
    if content is None:
        pd.DataFrame({"smiles": pd.Series([], dtype=str)}).to_parquet(path)
    else:
        path.write_bytes(content)
    message = f"no molecules in {path}: {detail}"
    with pytest.raises(InputError) as whole:
        read_molecules(path)
    with pytest.raises(InputError) as chunked:
        iter_molecule_chunks(path, chunk_size=2)
    assert str(whole.value) == str(chunked.value) == message


def test_the_chunked_reader_reads_its_first_chunk_once(tmp_path):
    from molvae.io import iter_molecule_chunks

    path = tmp_path / "m.csv"
    path.write_text("smiles\n" + "".join(f"{'C' * (i + 1)}O\n" for i in range(5)))
    chunks = list(iter_molecule_chunks(path, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [s for c in chunks for s in c.smiles] == read_molecules(path).smiles


def test_smi_with_names_and_empty_lines(tmp_path):
    path = tmp_path / "m.smi"
    path.write_text("CCO ethanol\n\nc1ccccc1\tbenzene ring\nC1CC broken\n")
    table = read_molecules(path)
    assert table.smiles == ["CCO", "", "c1ccccc1", "C1CC"]
    assert table.ids == ["ethanol", "", "benzene ring", "broken"]


def test_tsv_gz_and_parquet(tmp_path):
    frame = pd.DataFrame({"SMILES": ["CCO", "CCN"], "ID": ["x", "y"], "logP": [0.1, None]})
    tsv = tmp_path / "m.tsv.gz"
    with gzip.open(tsv, "wt") as f:
        frame.to_csv(f, sep="\t", index=False)
    table = read_molecules(tsv)
    assert table.smiles_column == "SMILES" and table.ids == ["x", "y"]
    assert np.isnan(table.numeric_column("logP")[1])
    pq = tmp_path / "m.parquet"
    frame.to_parquet(pq)
    assert read_molecules(pq).smiles == ["CCO", "CCN"]


def test_sdf_keeps_unparseable_records(tmp_path):
    from rdkit import Chem

    path = tmp_path / "m.sdf"
    writer = Chem.SDWriter(str(path))
    for smi, name in [("CCO", "eth"), ("c1ccccc1", "benz")]:
        mol = Chem.MolFromSmiles(smi)
        mol.SetProp("_Name", name)
        writer.write(mol)
    writer.close()
    text = path.read_text()
    broken = text.split("$$$$\n")[0].replace(" O   0", " Xz  0")  # an unknown element
    path.write_text(text + broken + "$$$$\n")
    table = read_molecules(path)
    assert len(table) == 3
    assert table.smiles[:2] == ["CCO", "c1ccccc1"] and table.ids[:2] == ["eth", "benz"]
    assert table.smiles[2] == ""


def test_write_table_is_atomic_on_bad_suffix(tmp_path):
    with pytest.raises(InputError):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_read_latents_from_table_and_npy(tmp_path):
    z = np.arange(6, dtype=np.float32).reshape(2, 3)
    pd.DataFrame({"smiles": ["C", "N"], "z1": z[:, 1], "z0": z[:, 0], "z2": z[:, 2]}).to_csv(
        tmp_path / "z.csv", index=False
    )
    np.testing.assert_array_equal(read_latents(tmp_path / "z.csv"), z)
    np.save(tmp_path / "z.npy", z)
    np.testing.assert_array_equal(read_latents(tmp_path / "z.npy"), z)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='\r\n,"\x00'), max_size=20),
        min_size=1,
        max_size=20,
    )
)
def test_csv_reader_keeps_every_row(tmp_path, values):
    path = tmp_path / "fuzz.csv"
    path.write_text("smiles\n" + "\n".join(values) + "\n", encoding="utf-8")
    table = read_molecules(path)
    assert len(table) == len(values)


def test_one_reader_for_csv_and_parquet_cells(tmp_path):
    """read_frame, the chunked reader and the Dask reader see the same strings ("NA" stays text,
    blanks are "")."""
    import pandas as pd

    from molvae.io import as_strings, csv_read_options, iter_molecule_chunks, read_frame

    path = tmp_path / "m.csv"
    path.write_text("smiles,name,score\nCCO,NA,\nc1ccccc1,,1.5\n")
    whole = read_frame(path)
    assert whole["name"].tolist() == ["NA", ""] and whole["score"].tolist() == ["", "1.5"]
    chunks = pd.concat([t.frame for t in iter_molecule_chunks(path, chunk_size=1)], ignore_index=True)
    pd.testing.assert_frame_equal(chunks[whole.columns], whole)
    assert csv_read_options(".tsv")["sep"] == "\t" and csv_read_options(".csv")["na_filter"] is False
    typed = pd.DataFrame({"a": [1.0, None], "b": ["x", None]})
    assert as_strings(typed).values.tolist() == [["1.0", "x"], ["", ""]]
