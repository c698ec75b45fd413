"""The documents keep each number once: README figures match their result files, the rendered tables
and figures are up to date, and the README stays short."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _render_docs():
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_docs = _render_docs()


def results_table(text: str) -> list[list[str]]:
    """The cells of the README's results table (the first table under '## Results'), header and rule left out."""
    section = text.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, "the README's Results section has no table"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def link_definitions(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\[(fig:[\w.@-]+)\]: (\S+)$", text, re.M))


def check_figures(text: str) -> list[str]:
    """What is wrong with the README's headline figures (empty when nothing is)."""
    errors = []
    definitions = link_definitions(text)
    rows = results_table(text)
    for cells in rows:
        label, ours = cells[0], cells[1]
        # the molvae column holds figures only: no number outside a figure link
        if not render_docs.FIGURE.fullmatch(ours):
            errors.append(f"row {label!r}: the molvae cell {ours!r} is not one figure link [VALUE][fig:ID]")
        for cell in cells[1:]:
            for m in render_docs.FIGURE.finditer(cell):
                path, value = render_docs.figure(m["id"])
                if m["text"] != value:
                    errors.append(f"row {label!r}: {m['id']} reads {m['text']!r} but {path.name} gives {value!r}")
                target = definitions.get(f"fig:{m['id']}")
                if target is None or (README.parent / target).resolve() != path.resolve():
                    errors.append(f"row {label!r}: {m['id']} links to {target!r}, not to {path.relative_to(ROOT)}")
    return errors


def test_readme_figures_match_their_result_files():
    text = README.read_text()
    assert len(results_table(text)) >= 8
    assert check_figures(text) == []


@pytest.mark.parametrize(
    "edit",
    [
        (r"\[(\d+)\.(\d+)\]\[fig:pmo_1000", r"[\1.\g<2>1][fig:pmo_1000"),  # a digit more
        (r"\[(\d+\.\d+)\d\]\[fig:zinc250k.sampler.fcd\]", r"[\1][fig:zinc250k.sampler.fcd]"),  # one fewer
        (r"\[([\d.]+)\]\[fig:zinc250k.latent.reconstruction\] \| JT", r"\1 | JT"),  # the link dropped
    ],
)
def test_an_edited_readme_figure_fails(edit):
    text = README.read_text()
    pattern, replacement = edit
    edited, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1
    assert check_figures(edited) != []


def test_rendered_documents_are_up_to_date():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_docs.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_render_check_fails_on_a_stale_table(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- table:anomaly -->\n| stale |\n<!-- end -->\n")
    assert render_docs.main(["--check", str(doc)]) == 1
    assert render_docs.main([str(doc)]) == 0
    assert render_docs.main(["--check", str(doc)]) == 0
    assert "| peptides |" in doc.read_text()


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    assert max(map(len, lines)) <= 200
