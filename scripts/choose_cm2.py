"""Choose CM-II's settings from the validation benchmarks of scripts/tune_cm2.sh.

    python scripts/choose_cm2.py runs/cm2-tune/sr4

Reads the starting point's table (``start/bench``: the fit-split controlnet sampled by
the CoDi sampler as if it were an untrained CM-II) and each variant's
(``<variant>/bench``), prints LPIPS and FID of CM-II at 1, 2, 4 and 8 steps with their
95% intervals, and chooses the variant with the lowest LPIPS at 4 steps (the table's
headline comparison). Writes its overrides (from configs/cm2_variants.txt) to
``configs/cm2_chosen.args`` (committed: scripts/train_students.sh reads it, so a machine
that never ran the tuning trains CM-II with the settings chosen on val), and the table
and the choice to ``<root>/choice.md``, saying plainly whether the chosen variant ends better than its
starting point on LPIPS and on FID (beyond the intervals or not).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEYS = [f"cm-two-stage/codi/{k}" for k in (1, 2, 4, 8)]


def _rows(path: Path) -> dict:
    data = json.loads((path / "bench.json").read_text())
    return {r["key"]: r for r in data["rows"] if r.get("key") in KEYS and "lpips" in r}


def _cell(r, m, fmt):
    if r is None:
        return "–"
    lo, hi = r.get(f"{m}_ci", [None, None])
    return f"{r[m]:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if lo is not None else f"{r[m]:{fmt}}"


def main(root: Path) -> int:
    variants = {}
    for line in (REPO / "configs/cm2_variants.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, args = line.strip().partition(" ")
            variants[name] = args.strip()
    tables = {"start (controlnet, untrained CM-II)": _rows(root / "start" / "bench")}
    for name in variants:
        if (root / name / "bench" / "bench.json").is_file():
            tables[name] = _rows(root / name / "bench")
    lines = ["| variant | " + " | ".join(f"LPIPS-{k.split('/')[-1]}" for k in KEYS)
             + " | FID-4 |", "|---" * (len(KEYS) + 2) + "|"]
    for name, rows in tables.items():
        lines.append(f"| {name} | " + " | ".join(_cell(rows.get(k), "lpips", ".3f") for k in KEYS)
                     + f" | {_cell(rows.get(KEYS[2]), 'fid', '.1f')} |")
    measured = [n for n in variants if n in tables and KEYS[2] in tables[n]]
    if not measured:
        print("\n".join(lines) + "\nno variant measured yet")
        return 1
    best = min(measured, key=lambda n: tables[n][KEYS[2]]["lpips"])
    b, s = tables[best][KEYS[2]], next(iter(tables.values()))[KEYS[2]]
    verdict = []
    for m in ("lpips", "fid"):
        better = b[m] < s[m]
        clear = b[f"{m}_ci"][1] < s[f"{m}_ci"][0]
        verdict.append(f"{m.upper()}-4 {b[m]:.3f} vs start {s[m]:.3f}: "
                       + ("better, beyond both intervals" if clear else
                          "better, within the intervals" if better else "**worse than its start**"))
    text = ("\n".join(lines) + f"\n\nChosen (lowest LPIPS at 4 steps on val): **{best}** "
            f"(`{variants[best]}`).\n\n" + "\n".join(f"- {v}" for v in verdict) + "\n")
    (root / "choice.md").write_text(text)
    chosen = REPO / "configs" / "cm2_chosen.args"
    chosen.write_text(variants[best] + "\n")
    print(text)
    print(f"wrote {root / 'choice.md'} and {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/cm2-tune/sr4")))
