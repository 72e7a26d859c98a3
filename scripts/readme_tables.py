"""Write the generated tables of the READMEs, so that no README carries a typed number:

* ``README.md``, between ``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->``:
  the benchmark summary, from ``data/bench/bench.json``;
* ``data/students/README.md``, between ``<!-- students-table:start -->`` and
  ``<!-- students-table:end -->``: every shipped conditional model with the teacher it
  was trained on and its budget, from each model's ``config.json`` and ``record.json``.

``--check`` exits 1 when a README is out of date (tests/test_docs.py runs the same
comparison).

    .venv/bin/python scripts/readme_tables.py
    .venv/bin/python scripts/readme_tables.py --check
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
S_START, S_END = "<!-- students-table:start -->", "<!-- students-table:end -->"
TEACHERS = {"data/teacher": "v2 (`data/teacher`)", "data/teacher-v1": "v1 (`data/teacher-v1`)",
            "data/teacher-scenes": "scenes (`data/teacher-scenes`)"}


def _between(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def rendered(readme: str, bench: dict) -> str:
    """``readme`` with its benchmark table written from ``bench``."""
    from codi_lib.evaluation.bench_report import summary_markdown
    return _between(readme, START, END, summary_markdown(bench))


def students_table(students: Path) -> str:
    """One row per shipped model folder (``<task>/<model>``): teacher, steps x batch,
    learning rate, EMA rate, training time on its machine."""
    lines = ["| task | model | teacher | steps x batch | lr | EMA | wall time (cores often shared) |",
             "|---|---|---|---|---|---|---|"]
    for cfg_file in sorted(students.glob("*/*/config.json")):
        folder = cfg_file.parent
        cfg = json.loads(cfg_file.read_text())
        rec_file = folder / "record.json"
        rec = json.loads(rec_file.read_text()) if rec_file.is_file() else {}
        tr = cfg["train"]
        steps = rec.get("steps", tr["max_steps"])
        minutes = f"{rec['train_seconds'] / 60:.0f} min" if "train_seconds" in rec else "–"
        lines.append(f"| {folder.parent.name} | `{folder.name}` | "
                     f"{TEACHERS.get(cfg['teacher'], cfg['teacher'])} | {steps:,} x {tr['batch_size']} | "
                     f"{tr['lr']:g} | {tr['ema_decay']:g} | {minutes} |")
    return "\n".join(lines) + "\n"


def rendered_students(readme: str, students: Path) -> str:
    return _between(readme, S_START, S_END, students_table(students))


def main(argv) -> int:
    bench = json.loads((REPO / "data/bench/bench.json").read_text())
    targets = [(REPO / "README.md", lambda t: rendered(t, bench), "data/bench/bench.json"),
               (REPO / "data/students/README.md",
                lambda t: rendered_students(t, REPO / "data/students"),
                "data/students/*/*/config.json")]
    stale = 0
    for path, render, source in targets:
        old = path.read_text()
        new = render(old)
        if "--check" in argv:
            if new != old:
                print(f"{path.relative_to(REPO)}: its table differs from {source}; "
                      "run python scripts/readme_tables.py")
                stale = 1
            continue
        path.write_text(new)
        print(f"{path.relative_to(REPO)}: table written from {source}")
    return stale


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
