import json

from molvae.cli.main import main
from molvae.training import runs
from molvae.viz.report import detect_kind, trace_path


def test_sibling_file_names():
    assert runs.sibling_path("runs/opt.csv", "trace.csv").as_posix() == "runs/opt.trace.csv"
    assert runs.sibling_path("opt.csv.gz", "neighbors.csv").as_posix() == "opt.neighbors.csv"
    # a dot in the name is part of the name, not a format suffix
    assert runs.sibling_path("opt.v2.parquet", "trace.csv").as_posix() == "opt.v2.trace.csv"
    assert runs.rejects_path("lib.smi.gz").as_posix() == "lib.rejects.csv"
    assert runs.partial_path("lib.parquet").as_posix() == "lib.parquet.partial"
    assert trace_path("runs/opt.parquet") == runs.sibling_path("runs/opt.parquet", "trace.csv")


def test_manifest_round_trip(tmp_path):
    out = tmp_path / "samples.csv"
    out.write_text("smiles\nCCO\n")
    path = runs.write_manifest(out, "sample", {"num_samples": 5, "output": out}, ["molvae", "sample"])
    assert path == tmp_path / "samples.manifest.json"
    record = runs.read_manifest(out)
    assert record["verb"] == "sample" and record["options"]["num_samples"] == 5
    assert record["options"]["output"] == str(out) and record["command"] == ["molvae", "sample"]
    assert "torch" in record["versions"] and "rdkit" in record["versions"]
    assert runs.read_manifest(tmp_path / "other.csv") is None


def test_every_written_output_gets_a_manifest(tiny_model_path, tmp_path):
    out = tmp_path / "s.csv"
    assert main(["sample", "--model", str(tiny_model_path), "-n", "3", "-o", str(out), "--seed", "1"]) == 0
    record = json.loads((tmp_path / "s.manifest.json").read_text())
    assert record["verb"] == "sample" and record["options"]["num_samples"] == 3 and record["options"]["seed"] == 1
    assert "func" not in record["options"]


def test_report_reads_the_kind_from_the_manifest(tmp_path):
    # a table whose columns say nothing; the manifest says what made it
    table = tmp_path / "found.csv"
    table.write_text("smiles,value\nCCO,1\n")
    runs.write_manifest(table, "optimize", {}, [])
    assert detect_kind(table) == "optimization"


def test_training_writes_its_manifest_with_the_resolved_config(tiny_run):
    record = runs.read_manifest(tiny_run.output_dir)
    assert record["verb"] == "train"
    assert record["options"]["train"]["epochs"] >= 1 and "representation" in record["options"]["model"]
    assert detect_kind(tiny_run.output_dir) == "training"


def test_library_training_leaves_the_thread_count_alone(tiny_csv, tmp_path):
    import torch
    from conftest import TINY_MODEL

    from molvae.config import RunConfig
    from molvae.training.loop import train

    before = torch.get_num_threads()
    run = RunConfig.from_dict(TINY_MODEL).override("train", epochs=1, num_threads=before + 1)
    train(tiny_csv, tmp_path / "run", run, progress=False)
    assert torch.get_num_threads() == before
