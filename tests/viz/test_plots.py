"""Pictures and reports: files are written, are real images of a sensible size, need no display,
and the HTML report is self-contained. Uses the tiny session model; trains nothing."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molvae import chem
from molvae.cli.main import main
from molvae.errors import InputError
from molvae.viz import drawing, plots
from molvae.viz.report import build_report, detect_kind, trace_path

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


@pytest.fixture(scope="module")
def opt_output(tmp_path_factory, tiny_model) -> Path:
    """An output table of 'molvae optimize' (and its trace) built from tiny-model prior samples."""
    out = tmp_path_factory.mktemp("opt") / "opt.csv"
    z = tiny_model.sample_prior(30, seed=1)
    smiles = tiny_model.decode(z)
    smiles[3] = None  # a failed decode: no score
    scores = chem.compute_properties(smiles, ["qed"])[:, 0]
    frame = pd.DataFrame(
        {
            "call": np.arange(1, 31),
            "step": [0] * 10 + [1 + i // 5 for i in range(20)],
            "source": ["init"] * 10 + ["bo"] * 20,
            "smiles": smiles,
            "score": scores,
        }
    )
    frame = pd.concat([frame, pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])], axis=1)
    frame.to_csv(out, index=False)
    best = [np.nanmax(scores[:c]) for c in (10, 15, 20, 25, 30)]
    trace = pd.DataFrame({"step": range(5), "calls": [10, 15, 20, 25, 30], "best_score": best})
    trace.to_csv(trace_path(out), index=False)
    return out


# ----------------------------------------------------------------------------- library


def test_molecule_grid_png_svg_and_invalid_cells(tmp_path):
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "not a smiles", None, "CN1C(=O)N(C)c2ncn(C)c2C1=O", ""]
    legends = ["aspirin\nQED 0.55", "bad", "none", "caffeine", "empty"]
    png = drawing.molecule_grid(smiles, legends, tmp_path / "grid.png", mols_per_row=3, size=200)
    assert_png(png)
    svg = drawing.molecule_grid(smiles, legends, tmp_path / "grid.svg")
    doc = xml.dom.minidom.parse(str(svg))  # well-formed
    assert doc.documentElement.tagName == "svg"
    text = svg.read_text()
    assert "no valid structure" in text and "caffeine" in text
    with pytest.raises(InputError, match="legends"):
        drawing.molecule_grid(smiles, legends[:2], tmp_path / "x.png")
    with pytest.raises(InputError, match="unsupported image format"):
        drawing.molecule_grid(smiles, legends, tmp_path / "x.jpg")
    assert not (tmp_path / "x.png").exists()


def test_training_curves_from_run_dir_and_file(tiny_run, tmp_path):
    out = plots.training_curves(tiny_run.output_dir, tmp_path / "curves.png")
    assert_png(out, 20_000)
    assert_png(plots.training_curves(tiny_run.output_dir / "metrics.csv", tmp_path / "curves2.png"), 20_000)
    assert plots.training_curves(tiny_run.output_dir, tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(InputError, match="no training metrics"):
        plots.training_curves(tmp_path, tmp_path / "none.png")


def test_latent_map_pca_with_trajectory_and_tsne(tiny_model, sample_smiles, tmp_path):
    enc = tiny_model.encode(sample_smiles + ["not a smiles"])
    qed = chem.compute_properties(enc.smiles, ["qed"])[:, 0]
    out = plots.latent_map(enc.mu, qed, tmp_path / "map.png", "qed", trajectory=enc.mu[:6])
    assert_png(out, 10_000)
    out = plots.latent_map(enc.mu, qed, tmp_path / "tsne.png", "qed", method="tsne", trajectory=enc.mu[:3])
    assert_png(out, 10_000)
    with pytest.raises(InputError, match="unknown projection"):
        plots.latent_map(enc.mu, qed, tmp_path / "x.png", "qed", method="umap")
    with pytest.raises(InputError, match="dimensions"):
        plots.latent_map(enc.mu, qed, tmp_path / "x.png", "qed", trajectory=np.zeros((2, 3)))


def test_optimization_trace_and_property_distributions(opt_output, sample_smiles, tmp_path):
    evaluated = pd.read_csv(opt_output)
    trace = pd.read_csv(trace_path(opt_output))
    assert_png(plots.optimization_trace(evaluated, trace, tmp_path / "trace.png", "qed"))
    assert_png(plots.optimization_trace(evaluated[["call", "score"]], None, tmp_path / "trace2.png"))
    out = plots.property_distributions(sample_smiles[:30] + ["bad"], sample_smiles[30:], tmp_path / "props.png")
    assert_png(out, 20_000)
    out = plots.property_distributions(
        sample_smiles[:10], sample_smiles[10:20], tmp_path / "p.png", properties=["tpsa"]
    )
    assert_png(out)
    with pytest.raises(InputError, match="unknown property"):
        plots.property_distributions(sample_smiles, sample_smiles, tmp_path / "x.png", properties=["colour"])


def test_no_display_needed_and_pyplot_never_imported(tiny_run, tmp_path):
    """A fresh interpreter without DISPLAY or MPLBACKEND draws; molvae.viz.plots imports matplotlib lazily
    and never touches pyplot (no global backend state)."""
    code = (
        "import sys, molvae.viz.plots as p, molvae.viz.drawing as d\n"
        "assert 'matplotlib' not in sys.modules\n"
        f"p.training_curves({str(tiny_run.output_dir)!r}, {str(tmp_path / 'c.png')!r})\n"
        f"d.molecule_grid(['CCO'], ['ethanol'], {str(tmp_path / 'g.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert_png(tmp_path / "c.png", 20_000)
    assert_png(tmp_path / "g.png", 1_000)


# ----------------------------------------------------------------------------- reports


def assert_self_contained(page: str, min_images: int) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) >= min_images
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "@import" not in page


def test_report_of_training_run(tiny_run, tmp_path):
    assert detect_kind(tiny_run.output_dir) == "training"
    out = build_report(tiny_run.output_dir, tmp_path / "run.html", num_samples=20)
    page = out.read_text()
    assert_self_contained(page, 2)  # curves and the sample grid
    for text in ("Training curves", "val_recon_acc", "validity", "[model]"):
        assert text in page
    alone = tmp_path / "kept_metrics.csv"  # a metrics table on its own: curves and tables, no samples
    shutil.copy(tiny_run.output_dir / "metrics.csv", alone)
    assert detect_kind(alone) == "training"
    page = build_report(alone, tmp_path / "alone.html").read_text()
    assert_self_contained(page, 1)
    assert "no best.pt" in page


def test_report_of_optimization(opt_output, tmp_path):
    assert detect_kind(opt_output) == "optimization"
    page = build_report(opt_output, tmp_path / "opt.html", top=5).read_text()
    assert_self_contained(page, 2)  # trace and the top molecules
    assert "Top 5 molecules" in page and "failed calls" in page and "best score" in page
    with pytest.raises(InputError, match="trace"):
        detect_kind(trace_path(opt_output))
    with pytest.raises(InputError, match="HTML"):
        build_report(opt_output, tmp_path / "opt.pdf")


BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
# Flags that work in a container as root with no GPU, no display and no network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def find_browser() -> str:
    """A headless-capable Chromium: /usr/bin/chromium (Debian's, which .ci/run installs) or one on PATH.
    Under CI (CI=true) a missing browser fails the test; elsewhere it skips."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        reason = "no Chromium found (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return browser


def test_report_renders_in_headless_chromium(opt_output, tmp_path):
    browser = find_browser()
    page = build_report(opt_output, tmp_path / "opt.html", top=5)
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert_png(shot, 20_000)  # a blank page would compress to a few KB
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    ink = (np.abs(pixels - pixels[0, 0]).sum(axis=2) > 60).mean(axis=1)  # share of non-background pixels per row
    assert (ink > 0.01).sum() > 200, "the screenshot is (nearly) blank"  # text, tables and pictures
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 256  # anti-aliased text and the drawings, not flat fills


# ----------------------------------------------------------------------------- command line


def test_cli_plot_verbs(tiny_model_path, tiny_run, tiny_csv, opt_output, tmp_path, capsys):
    model = ["--model", str(tiny_model_path), "-q"]
    assert (
        main(
            [
                "plot",
                "latent",
                str(tiny_csv),
                "--color-by",
                "logp",
                "--trajectory",
                str(opt_output),
                "-o",
                str(tmp_path / "map.png"),
                *model,
            ]
        )
        == 0
    )
    assert "trajectory" in capsys.readouterr().out
    assert_png(tmp_path / "map.png", 10_000)
    assert (
        main(["plot", "latent", str(tiny_csv), "--color-by", "pred_qed", "-o", str(tmp_path / "m2.png"), *model]) == 0
    )
    assert_png(tmp_path / "m2.png", 10_000)
    assert main(["plot", "training", str(tiny_run.output_dir), "-o", str(tmp_path / "curves.png"), "-q"]) == 0
    assert_png(tmp_path / "curves.png", 20_000)
    assert (
        main(
            [
                "plot",
                "properties",
                str(opt_output),
                "--reference",
                str(tiny_csv),
                "-o",
                str(tmp_path / "props.png"),
                "-q",
            ]
        )
        == 0
    )
    assert_png(tmp_path / "props.png", 20_000)
    assert main(["report", str(opt_output), "-o", str(tmp_path / "r.html"), "-q"]) == 0
    assert_self_contained((tmp_path / "r.html").read_text(), 2)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["plot", "training", "{tmp}", "-o", "{tmp}/x.png"], "no training metrics"),
        (
            ["plot", "latent", "{csv}", "--color-by", "colour", "-o", "{tmp}/x.png", "--model", "{model}"],
            "unknown property",
        ),
        (["plot", "properties", "{csv}", "--reference", "{csv}", "-o", "{tmp}/x.jpg"], "unsupported image format"),
        (
            ["sample", "-n", "5", "-o", "{tmp}/s.csv", "--image", "{tmp}/x.gif", "--model", "{model}"],
            "unsupported image format",
        ),
        (["explore", "CCO", "--image", "{tmp}/x.pdf", "--model", "{model}"], "unsupported image format"),
        (["interpolate", "CCO", "CCN", "--image", "{tmp}/x.jpg", "--model", "{model}"], "unsupported image format"),
        (["optimize", "--budget", "5", "--image", "{tmp}/x", "--model", "{model}"], "unsupported image format"),
        (["report", "{csv}", "-o", "{tmp}/x.html"], "cannot tell what"),
    ],
)
def test_cli_user_errors_are_one_line(argv, message, tmp_path, tiny_csv, tiny_model_path, capsys):
    argv = [a.format(tmp=tmp_path, csv=tiny_csv, model=tiny_model_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("x.*")) and not (tmp_path / "s.csv").exists()


def test_cli_image_on_sample_interpolate_explore(tiny_model_path, tiny_csv, tmp_path):
    model = ["--model", str(tiny_model_path), "-q"]
    sample = ["sample", "-n", "20", "-o", str(tmp_path / "s.csv"), "--train", str(tiny_csv)]
    assert main([*sample, "--image", str(tmp_path / "s.png"), *model]) == 0
    assert_png(tmp_path / "s.png", 1_000)
    ends = ["CC(=O)Oc1ccccc1C(=O)O", "CCOC(=O)c1ccccc1"]
    assert main(["interpolate", *ends, "--steps", "4", "--image", str(tmp_path / "i.svg"), *model]) == 0
    xml.dom.minidom.parse(str(tmp_path / "i.svg"))
    assert "step 0" in (tmp_path / "i.svg").read_text()
    assert main(["explore", "CC(=O)Oc1ccccc1C(=O)O", "-n", "10", "--image", str(tmp_path / "e.png"), *model]) == 0
    assert_png(tmp_path / "e.png", 1_000)


def test_train_cli_draws_curves_and_only_warns_on_failure(tiny_run, tmp_path, caplog):
    from molvae.cli.train import draw_curves

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run.output_dir / "metrics.csv", run / "metrics.csv")
    draw_curves(run)
    assert_png(run / "training_curves.png", 20_000)
    with caplog.at_level(logging.WARNING):
        draw_curves(tmp_path / "empty")  # no metrics.csv: a warning, no exception
    assert "could not draw the training curves" in caplog.text
