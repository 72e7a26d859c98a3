"""The host's kit in docs/ (README, "Running a workshop"): it exists, it covers every
notebook, exercise and required term, and scripts/build_docs.py turns it into printable
pages that load nothing from the network. No paper equation: this is course tooling.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
KIT = ["agenda.md", "instructor_notes.md", "glossary.md", "cheatsheet.md"]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", KIT)
def test_kit_file_exists_and_is_linked_from_the_readme(name):
    assert (DOCS / name).is_file()
    assert f"docs/{name}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_agenda_and_notes_cover_every_notebook():
    agenda, notes = _read("agenda.md"), _read("instructor_notes.md")
    for stem in NOTEBOOKS:
        number = stem[:2]
        assert re.search(rf"\b{number}\b", agenda), f"agenda.md does not mention notebook {number}"
        assert re.search(rf"^## {number} ", notes, re.M), f"instructor_notes.md has no section {number}"


def test_agenda_has_a_fast_mode_time_for_every_notebook():
    """The agenda's timing table has one row per notebook with a measured fast-mode time."""
    agenda = _read("agenda.md")
    for stem in NOTEBOOKS:
        row = next((ln for ln in agenda.splitlines() if ln.startswith(f"| {stem[:2]} ")), None)
        assert row is not None, f"no timing row for {stem}"
        assert re.search(r"\| \d+ s \|", row), f"no fast-mode time in the row of {stem}: {row}"


def test_notes_name_every_exercise_and_its_mistakes():
    from codi_lib.course.exercises import EXERCISES
    notes = _read("instructor_notes.md")
    for name in EXERCISES:
        assert f"`{name}`" in notes, f"instructor_notes.md does not cover the exercise {name}"


def test_glossary_has_every_required_term():
    text = _read("glossary.md").lower()
    for term in ["α_t", "σ_t", "v-prediction", "pf-ode", "nfe", "c_skip", "c_out", "ema",
                 "controlnet", "zero convolution", "pe-codi", "cm-ii", "lpips", "fid", "kid",
                 "ddim", "dpm-solver++", "consistency function", "stand-in", "wheelhouse"]:
        assert term in text, f"the glossary has no entry for {term!r}"


def test_cheatsheet_maps_every_equation_of_the_sheet():
    import codi_lib
    sheet = _read("cheatsheet.md")
    numbers = re.findall(r"^\((C\d)\)", codi_lib.__doc__, re.M)
    assert numbers == [f"C{i}" for i in range(1, 10)]
    for n in numbers:
        row = next((ln for ln in sheet.splitlines() if ln.startswith(f"| ({n}) |")), None)
        assert row is not None, f"the cheat sheet has no row for ({n})"
        assert "Sec." in row, f"the row of ({n}) does not point into the paper"


def test_build_docs_writes_offline_printable_pages(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "build_docs.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for name in KIT:
        page = (tmp_path / name.replace(".md", ".html")).read_text(encoding="utf-8")
        assert "@media print" in page
        assert not re.findall(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']https?:""",
                              page), f"{name}: the page would load something from the network"
        assert "<script" not in page  # nothing to run: the maths is Unicode
        assert not re.search(r'href="[^":]+\.md"', page), f"{name}: a link still points at .md"
    glossary = (tmp_path / "glossary.html").read_text(encoding="utf-8")
    assert "<table>" in glossary and "<td>" in glossary  # Markdown tables became tables
    assert "size: A4 landscape" in (tmp_path / "cheatsheet.html").read_text(encoding="utf-8")


def test_slides_cut_every_notebook_at_its_headings_and_keep_its_code():
    """scripts/build_site.py's slide cutting: a slide at every #/## heading, even in the
    middle of a markdown cell (not inside a code fence), the code cells untouched."""
    import nbformat
    sys.path.insert(0, str(REPO / "scripts"))
    import build_site
    for path in build_site.find_notebooks(None):
        nb = nbformat.read(path, as_version=4)
        cut = build_site.slide_types(nb)
        assert [c.source for c in cut.cells if c.cell_type == "code"] == \
               [c.source for c in nb.cells if c.cell_type == "code"]
        headings = [part for c in nb.cells if c.cell_type == "markdown"
                    for part in build_site._split_at_headings(c.source)
                    if re.match(r"#{1,2} ", part)]
        slides = [c for c in cut.cells if c.metadata["slideshow"]["slide_type"] == "slide"]
        assert len(slides) == len(headings) >= 2, path.name
    fenced = build_site._split_at_headings("## A\ntext\n```bash\n# a comment\n```\n## B\nmore")
    assert fenced == ["## A\ntext\n```bash\n# a comment\n```", "## B\nmore"]


def test_readme_tables_are_generated_from_the_shipped_files():
    """The README's benchmark table is written from data/bench/bench.json and the
    students' table of data/students/README.md from the models' own config and record
    files: never typed."""
    import json
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    from readme_tables import rendered, rendered_students
    readme = (REPO / "README.md").read_text()
    bench = json.loads((REPO / "data/bench/bench.json").read_text())
    assert rendered(readme, bench) == readme, "run python scripts/readme_tables.py"
    students = (REPO / "data/students/README.md").read_text()
    assert rendered_students(students, REPO / "data/students") == students, \
        "run python scripts/readme_tables.py"


def test_time_notebooks_reads_each_cells_time_from_the_executor_metadata():
    """The agenda's longest cells come from the timestamps nbclient records per cell:
    the longest code cell is listed first with its duration; markdown and never-run cells
    are skipped."""
    import nbformat

    sys.path.insert(0, str(REPO / "scripts"))
    import time_notebooks

    def code(src, t0, t1):
        c = nbformat.v4.new_code_cell(src)
        if t0:
            c.metadata["execution"] = {"iopub.execute_input": t0, "shell.execute_reply": t1}
        return c

    nb = nbformat.v4.new_notebook(cells=[
        code("x = 1", "2026-12-02T10:00:00.000Z", "2026-12-02T10:00:01.500Z"),
        nbformat.v4.new_markdown_cell("text"),
        code("\n# train\nrun()", "2026-12-02T10:00:02.000Z", "2026-12-02T10:01:02.250Z"),
        code("never_run()", None, None),
    ])
    got = time_notebooks.cell_seconds(nb)
    assert [(round(t, 2), f) for t, _, f in got] == [(60.25, "# train"), (1.5, "x = 1")]


def test_time_notebooks_sums_the_nbval_durations_of_a_pytest_log():
    sys.path.insert(0, str(REPO / "scripts"))
    import time_notebooks

    log = """============================= slowest durations =============================
12.50s call     notebooks/00_welcome.ipynb::Cell 3
2.00s setup    notebooks/00_welcome.ipynb::Cell 0
0.50s call     notebooks/ja/00_welcome.ipynb::Cell 1
30.00s call     tests/test_poc.py::test_poc_trains_evaluates_reports_and_resumes
0.01s teardown notebooks/00_welcome.ipynb::Cell 3
"""
    got = time_notebooks.notebook_seconds_from_pytest(log)
    assert got == {"notebooks/00_welcome.ipynb": pytest.approx(14.51),
                   "notebooks/ja/00_welcome.ipynb": pytest.approx(0.5)}
