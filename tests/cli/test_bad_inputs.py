"""Bad inputs a newcomer meets: each gives one line on stderr, exit status 2, no traceback and no output."""

import re

import numpy as np
import pandas as pd
import pytest

from molvae.cli.main import main
from molvae.pretrained import bundled_models


def one_line_error(capsys, argv: list[str], message: str) -> str:
    """Run ``molvae ARGV``: status 2 and one stderr line holding ``message``."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    return err


# ----------------------------------------------------------------------------- files without molecules

EMPTY_FILES = {"empty.csv": "", "header.csv": "smiles,id\n", "empty.smi": "", "header.smi": "smiles\n"}
EXPECTED = {
    "empty.csv": "no molecules in {path}: the file is empty",
    "header.csv": "no molecules in {path}: it has a header (smiles, id) but no rows",
    "empty.smi": "no molecules in {path}: it has no SMILES lines",
    "header.smi": "no molecules in {path}: it has no SMILES lines",
}
# every verb that reads a molecule file, with that file in place of {input}
VERBS = {
    "encode": ["encode", "{input}", "-o", "{out}.csv"],
    "encode-npy": ["encode", "{input}", "-o", "{out}.npy"],
    "encode-dask": ["encode", "{input}", "-o", "{out}", "--engine", "dask"],
    "reconstruct": ["reconstruct", "{input}", "-o", "{out}.csv"],
    "score": ["score", "{input}", "-o", "{out}.csv"],
    "evaluate": ["evaluate", "{input}", "-o", "{out}.json"],
    "evaluate-test": ["evaluate", "--test", "{input}", "-n", "5", "-o", "{out}.json"],
    "evaluate-reference": ["evaluate", "{good}", "--reference", "{input}", "-o", "{out}.json"],
    "optimize-init": ["optimize", "--init", "{input}", "--budget", "5", "-o", "{out}.csv"],
    "neighbors-query": ["neighbors", "--library", "{good}", "--query", "{input}", "-o", "{out}.csv"],
    "train": ["train", "{input}", "-o", "{out}"],
}


@pytest.mark.parametrize("name", list(EMPTY_FILES))
@pytest.mark.parametrize("verb", list(VERBS))
def test_a_file_without_molecules_is_one_line_for_every_verb(
    verb, name, tmp_path, tiny_model_path, tiny_csv, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_text(EMPTY_FILES[name])
    argv = [a.format(input=path, out=tmp_path / "out", good=tiny_csv) for a in VERBS[verb]]
    if verb != "train":
        argv += ["--model", str(tiny_model_path)]
    one_line_error(capsys, [*argv, "-q"], EXPECTED[name].format(path=path))
    written = [p for p in tmp_path.rglob("*") if p.name.startswith(("out", ".out"))]
    assert not written  # nothing written, not even an empty directory (train's run directory, dask's dataset)


def test_an_empty_library_is_one_line(tmp_path, tiny_model_path, capsys):
    library = tmp_path / "lib.csv"
    library.write_text("")
    one_line_error(
        capsys,
        ["neighbors", "--library", str(library), "--query", "CCO", "--model", str(tiny_model_path)],
        f"no molecules in {library}: the file is empty",
    )


# ----------------------------------------------------------------------------- reconstruct's summary


def test_reconstruct_counts_agree_with_the_ratio(tmp_path, tiny_model_path, capsys, monkeypatch):
    """One good row (reconstructed) and one bad: the accuracy is over the one valid input, and the bad
    row is counted apart (the summary once said 0.5000 (1/1 valid inputs; 1 of 2 rows invalid))."""
    from molvae import api

    def reconstructed(model, table, keep_largest_fragment=False, beam_width=1):
        return pd.DataFrame(
            {
                "row": [0, 1],
                "input_smiles": ["CCO", "C1CC"],
                "smiles": ["CCO", None],
                "reconstructed": ["CCO", None],
                "match": [True, False],
                "valid": [True, False],
                "reason": [None, "unparseable"],
            }
        )

    monkeypatch.setattr(api, "reconstruct", reconstructed)
    path = tmp_path / "two.csv"
    path.write_text("smiles\nCCO\nC1CC\n")
    out = tmp_path / "r.csv"
    assert main(["reconstruct", str(path), "-o", str(out), "--model", str(tiny_model_path), "-q"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"reconstruction accuracy: 1.0000 (1 of 1 valid inputs reconstructed "
        f"exactly); 1 of 2 rows invalid, marked in the output -> {out}"
    )


def test_reconstruct_summary_matches_the_written_rows(tmp_path, tiny_model_path, sample_smiles, capsys):
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"smiles": sample_smiles[:8] + ["C1CC", "[U]", ""]}).to_csv(path, index=False)
    out = tmp_path / "r.csv"
    assert main(["reconstruct", str(path), "-o", str(out), "--model", str(tiny_model_path), "-q"]) == 0
    printed = capsys.readouterr().out
    m = re.search(
        r"accuracy: (\S+) \((\d+) of (\d+) valid inputs reconstructed exactly\); (\d+) of (\d+) rows invalid", printed
    )
    assert m, printed
    frame = pd.read_csv(out, keep_default_na=False)
    valid, match = frame["valid"].astype(str).eq("True"), frame["match"].astype(str).eq("True")
    n_match, n_valid, n_bad, n = (int(m[i]) for i in range(2, 6))
    assert (n_match, n_valid, n_bad, n) == ((match & valid).sum(), valid.sum(), 3, 11)
    assert float(m[1]) == pytest.approx(n_match / n_valid, abs=1e-4)


# ----------------------------------------------------------------------------- objective specs


@pytest.mark.parametrize(
    "spec,message",
    [
        ("qed high, mw in 500-200", "mw in 500-200: the range is reversed; write mw in 200-500"),
        ("logp in 3--2", "logp in 3--2: the range is reversed; write logp in -2-3"),
        ("qed high, toxicity low", "unknown property 'toxicity' in the objective; known: logp, qed"),
        ("sa <= 4, lgp high", "unknown property 'lgp' in the objective; did you mean logp?"),
        ("", "the objective is empty; give a name (qed"),
        ("qed high,", "has an empty term (a comma too many)"),
        ("qed >= 1.5", "qed >= 1.5: no molecule meets it (qed is always between 0 and 1)"),
        ("mw <= -5", "mw <= -5: no molecule meets it (mw is always 0 or more)"),
        (
            "mw <= 200, mw >= 500",
            "mw <= 200 and mw >= 500 cannot both hold; write one range for mw, e.g. mw in 200-500",
        ),
        ("qed high, qed low", "qed high and qed low pull qed both ways; keep one of them"),
        ("0*qed high", "a weight of 0 leaves qed out"),
        ("1.2.3*qed high", "cannot read objective term '1.2.3*qed high'; write e.g. 'qed high'"),
        ("qde", "unknown objective 'qde'; did you mean qed?"),
    ],
)
def test_impossible_objectives_say_what_to_write(spec, message, tiny_model_path, capsys):
    one_line_error(
        capsys, ["optimize", "--objective", spec, "--budget", "5", "--model", str(tiny_model_path), "-q"], message
    )


def test_possible_edge_specs_are_accepted():
    from molvae.search.objectives import make_objective

    for spec in ("logp in -2-3", "mw in 300-300", "qed high, mw in 200 - 500", "qed <= 0", "sim:CCO >= 1"):
        assert make_objective(spec).name == spec


# ----------------------------------------------------------------------------- models


def test_an_unknown_model_names_the_bundled_ones(capsys, tmp_path):
    err = one_line_error(
        capsys,
        ["sample", "-o", str(tmp_path / "x.csv"), "--model", "zinc250k_selfie"],
        "model file not found: zinc250k_selfie; did you mean zinc250k_selfies? bundled models: ",
    )
    assert all(name in err for name in bundled_models()) and "molvae models" in err
    err = one_line_error(
        capsys,
        ["encode", "x.smi", "-o", str(tmp_path / "x.csv"), "--model", "runs/nope.pt"],
        "model file not found: runs/nope.pt; bundled models: ",
    )
    assert "did you mean" not in err


def test_models_lists_each_bundled_model_on_one_line(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(bundled_models())
    for line, name in zip(lines, bundled_models(), strict=True):
        assert re.match(rf"{name}\s+\d+\.\d MB\s+\d+\.\d\d M parameters  \S", line), line
    assert "Default for encode" in lines[list(bundled_models()).index("zinc250k_selfies")]


# ----------------------------------------------------------------------------- other settings, one owner each


@pytest.mark.parametrize(
    "argv,message",
    [
        (["optimize", "--max-heavy-atoms", "5", "--budget", "5"], "max_heavy_atoms must be at least 10"),
        (["optimize", "--method", "bo", "--max-heavy-atoms", "30"], "method bo does not use max_heavy_atoms"),
        (["sample", "-n", "0", "-o", "{tmp}/s.csv"], "the number of samples (-n) must be at least 1, not 0"),
        (["decode", "{tmp}/z.npy", "-o", "{tmp}/d.csv"], "latent points must have shape n x 8 for this model"),
        (["encode", "{tmp}/z.npy", "-o", "{tmp}/s.csv", "--chunk-size", "0"], "chunk_size must be at least 1, not 0"),
        (["encode", "{tmp}/z.npy", "-o", "{tmp}/s.csv", "--threads", "-1"], "threads must be 0 (automatic) or more"),
    ],
)
def test_settings_are_checked_by_the_library_and_reported_in_one_line(argv, message, tmp_path, tiny_model_path, capsys):
    np.save(tmp_path / "z.npy", np.zeros((3, 5), dtype=np.float32))
    argv = [a.format(tmp=tmp_path) for a in argv]
    one_line_error(capsys, [*argv, "--model", str(tiny_model_path), "-q"], message)
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "d.csv").exists()
