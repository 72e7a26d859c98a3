#!/usr/bin/env python
"""Measure how long each notebook takes to run top to bottom (for docs/agenda.md).

    .venv/bin/python scripts/time_notebooks.py --fast      # CODI_FAST=1, as `make test`
    .venv/bin/python scripts/time_notebooks.py --normal    # lesson size, as in a workshop
    .venv/bin/python scripts/time_notebooks.py --fast --only 00 01 --json /tmp/t.json
    .venv/bin/python scripts/time_notebooks.py --from-pytest test.log   # see below

Each notebook runs in a fresh kernel started in ``notebooks/`` (the same executor as
``scripts/build_site.py``), one after the other, with the glibc allocator settings that
``make course`` sets. Prints a Markdown table (notebook, seconds, status) and the
machine's conditions (cores, torch threads, load average before and after), so a
timing can be read with its circumstances, and each notebook's longest code cells (from
the ``execution`` timestamps the executor records in every cell's metadata), for the
agenda's "longest parts" column. Measure on idle cores: a training job in
the background inflates every number. No paper equation: this is course tooling.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cell_seconds(nb) -> list[tuple[float, str, str]]:
    """(seconds, cell id, first source line) of every executed code cell of ``nb``, longest
    first, from the ``execution`` metadata (``iopub.execute_input`` to
    ``shell.execute_reply``) that nbclient records."""
    from datetime import datetime

    out = []
    for c in nb.cells:
        ex = c.get("metadata", {}).get("execution", {})
        t0, t1 = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if c.cell_type != "code" or not (t0 and t1):
            continue
        secs = (datetime.fromisoformat(t1.replace("Z", "+00:00"))
                - datetime.fromisoformat(t0.replace("Z", "+00:00"))).total_seconds()
        first = next((ln.strip() for ln in c.source.splitlines() if ln.strip()), "")
        out.append((secs, c.get("id", ""), first[:60]))
    return sorted(out, reverse=True)


def notebook_seconds_from_pytest(text: str) -> dict[str, float]:
    """{notebook path: seconds} summed over the ``--durations`` lines of a pytest log
    ("12.34s call     notebooks/00_welcome.ipynb::Cell 3"); other tests are ignored."""
    import re

    out: dict[str, float] = {}
    for m in re.finditer(r"^\s*([0-9.]+)s\s+(?:setup|call|teardown)\s+(\S+\.ipynb)::", text, re.M):
        out[m.group(2)] = out.get(m.group(2), 0.0) + float(m.group(1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--fast", action="store_true", help="CODI_FAST=1 (as `make test`)")
    mode.add_argument("--from-pytest", type=Path, metavar="LOG",
                      help="sum the nbval durations of a pytest log (PYTEST_ADDOPTS=--durations=0)")
    mode.add_argument("--normal", action="store_true", help="lesson size (CODI_FAST unset)")
    ap.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. --only 00 07")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--top", type=int, default=3, help="longest cells listed per notebook")
    args = ap.parse_args(argv)
    if args.from_pytest:
        secs = notebook_seconds_from_pytest(args.from_pytest.read_text(errors="replace"))
        print("| notebook | seconds (nbval, fast mode) |\n|---|---|")
        for nb, t in sorted(secs.items()):
            print(f"| {nb} | {t:.0f} |")
        print(f"| total | {sum(secs.values()):.0f} |")
        if args.json:
            args.json.write_text(json.dumps({"source": str(args.from_pytest), "seconds": secs}, indent=1))
        return 0 if secs else 1
    import build_site  # scripts/build_site.py: the same executor as the site build
    build_site.set_kernel_env(args.fast)

    conditions = {
        "mode": "fast (CODI_FAST=1)" if args.fast else "normal (lesson size)",
        "cores": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "python": platform.python_version(), "machine": platform.machine(),
        "load_before": _load(), "started": time.strftime("%Y-%m-%d %H:%M"),
    }
    rows = []
    for path in build_site.find_notebooks(args.only):
        print(f"[time_notebooks] {path.name} ...", flush=True)
        nb, secs, err = build_site.execute(path, args.timeout, args.fast)
        cells = cell_seconds(nb)[: args.top]
        rows.append({"notebook": path.name, "seconds": round(secs, 1), "error": err,
                     "longest_cells": [{"seconds": round(t, 1), "id": i, "first_line": f}
                                       for t, i, f in cells]})
        print(f"[time_notebooks] {path.name}: {secs:.1f} s{' FAILED: ' + err if err else ''}",
              flush=True)
        for t, i, f in cells:
            print(f"[time_notebooks]     {t:6.1f} s  cell {i}: {f}", flush=True)
    conditions["load_after"] = _load()
    print()
    print(f"Conditions: {json.dumps(conditions)}")
    print()
    print("| notebook | seconds | status |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['notebook']} | {r['seconds']:.0f} | {'ok' if not r['error'] else 'failed'} |")
    print(f"| total | {sum(r['seconds'] for r in rows):.0f} | |")
    if args.json:
        args.json.write_text(json.dumps({"conditions": conditions, "rows": rows}, indent=1))
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
