"""Write the README's benchmark table from data/bench/bench.json (between the
``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` lines), so the README
never carries a typed number. ``--check`` exits 1 when the README is out of date
(tests/test_docs.py runs the same comparison).

    .venv/bin/python scripts/readme_bench.py
    .venv/bin/python scripts/readme_bench.py --check
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def rendered(readme: str, bench: dict) -> str:
    from codi_lib.evaluation.bench_report import summary_markdown
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{summary_markdown(bench)}{END}{tail}"


def main(argv) -> int:
    path = REPO / "README.md"
    bench = json.loads((REPO / "data/bench/bench.json").read_text())
    old = path.read_text()
    new = rendered(old, bench)
    if "--check" in argv:
        if new != old:
            print("README.md: the benchmark table differs from data/bench/bench.json; "
                  "run python scripts/readme_bench.py")
            return 1
        return 0
    path.write_text(new)
    print("README.md: benchmark table written from data/bench/bench.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
