"""Reading a benchmark result: the goals it meets or misses, its Markdown table, and the
quality-vs-NFE figure per task. Introduced in ``notebooks/06_measuring.ipynb``; the
figure is the shape of the distillation papers' quality-vs-steps plots (paper Fig. 1 /
Sec. 5). Everything here reads the dict that :func:`codi_lib.bench.run_benchmark`
writes to ``bench.json``; nothing is measured here.
"""
from __future__ import annotations

from pathlib import Path

from ..method.tasks import TASKS

FAMILIES = [("controlnet", "ddim", "ControlNet teacher, DDIM"),
            ("controlnet", "dpmsolver++", "ControlNet teacher, DPM-Solver++"),
            ("cm-two-stage", "codi", "CM-II (two-stage)"),
            ("pe-codi", "codi", "PE-CoDi"),
            ("codi", "codi", "CoDi")]


def _key(r: dict) -> str:
    """A row's ``model/sampler/steps`` (first-version tables have no ``key`` field)."""
    return r.get("key") or f"{r.get('model') or 'reference'}/{r.get('sampler', '')}/{r.get('steps', 0)}"


def row(result: dict, task: str, key: str) -> dict | None:
    """The measured row ``key`` (``model/sampler/steps``) of ``task``, or None."""
    return next((r for r in result["rows"] if r["task"] == task and _key(r) == key
                 and "fid" in r), None)


def pair(result: dict, task: str, a: str, b: str, metric: str) -> dict | None:
    """The paired comparison a - b of ``metric`` on ``task``, or None."""
    return next((p for p in result.get("paired", []) if p["task"] == task and p["a"] == a
                 and p["b"] == b and p["metric"] == metric), None)


def _data_sets(result: dict) -> dict:
    """``{data set: {"n_images", "n_reference", "fid_floor", "kid_floor"}}``; a table
    from before several data sets (no ``data_sets``) has its one set at the top level."""
    if result.get("data_sets"):
        return result["data_sets"]
    return {"": {k: result[k] for k in ("n_images", "n_reference", "fid_floor", "kid_floor")
                 if k in result}}


def task_images(result: dict, task: str):
    """How many test images ``task`` was measured on (its data set's count)."""
    return _data_sets(result).get(TASKS[task].dataset, {}).get("n_images", result.get("n_images"))


def images_per_task(result: dict) -> str:
    """"608 test images per task", or per data set when the table has several:
    "608 (emoji) and 512 (scenes) test images per task". Notebook 06."""
    sets = _data_sets(result)
    counts = {ds: v.get("n_images", result.get("n_images", "?")) for ds, v in sets.items()}
    if len(set(counts.values())) <= 1:
        return f"{next(iter(counts.values()), result.get('n_images', '?'))} test images per task"
    return " and ".join(f"{n} ({ds})" for ds, n in counts.items()) + " test images per task"


def fid_note(sets: dict, split: str, fid_seeds: int, seeds: int) -> str:
    """The FID/KID protocol in words; ``sets`` maps each data set to its ``n_images`` and
    ``n_reference``. One data set: "FID/KID of 608 outputs per seed against all 608 test
    images ..."; several: each set's counts in brackets."""
    if len({(v["n_images"], v["n_reference"]) for v in sets.values()}) == 1:
        v = next(iter(sets.values()))
        head = f"FID/KID of {v['n_images']} outputs per seed against all {v['n_reference']} {split} images"
    else:
        head = ("FID/KID of each task's outputs per seed against all the " + split + " images of its "
                "data set (" + "; ".join(f"{ds}: {v['n_images']} against {v['n_reference']}"
                                         for ds, v in sets.items()) + ")")
    return (f"{head} (Inception TF-2015 features, 8-bit images resized 32 -> 299 bilinear), "
            f"mean over the first {fid_seeds} of {seeds} noise seeds (LPIPS/PSNR/SSIM: all of "
            "them); comparable between these methods only")


def _goal(task, text, met, detail):
    return {"task": task, "goal": text, "met": bool(met), "detail": detail}


def _rel(a: float, b: float) -> float:
    return (a - b) / b


def goals(result: dict) -> list[dict]:
    """Each goal of the table checked on each task (missing rows make a goal unmet)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        c4, t50 = row(result, task, "codi/codi/4"), row(result, task, "controlnet/ddim/50")
        if c4 and t50:
            for m in ("lpips", "fid"):
                d = _rel(c4[m], t50[m])
                out.append(_goal(task, f"CoDi-4 within 5% of DDIM-50 on {m.upper()}", d <= 0.05,
                                 f"{c4[m]:.3f} vs {t50[m]:.3f} ({100 * d:+.1f}%)"))
        for k in (1, 2):
            for b in ("controlnet/ddim", "controlnet/dpmsolver++"):
                for m in ("lpips", "fid"):
                    p = pair(result, task, f"codi/codi/{k}", f"{b}/{k}", m)
                    out.append(_goal(task, f"CoDi-{k} ahead of {b.split('/')[1]}-{k} on "
                                     f"{m.upper()} beyond the paired interval",
                                     p is not None and p["ci"][1] < 0, _pair_text(p)))
        for m in ("lpips", "fid"):
            p = pair(result, task, "codi/codi/4", "cm-two-stage/codi/4", m)
            out.append(_goal(task, f"CoDi-4 ahead of CM-II-4 on {m.upper()} beyond the interval",
                             p is not None and p["ci"][1] < 0, _pair_text(p)))
            for b in ("controlnet/ddim/4", "controlnet/dpmsolver++/4"):
                p = pair(result, task, "codi/codi/4", b, m)
                out.append(_goal(task, f"CoDi-4 not behind {b.split('/')[1]}-4 on {m.upper()} "
                                 "beyond the interval", p is not None and p["ci"][0] <= 0,
                                 _pair_text(p)))
        cond = row(result, task, "reference/condition/0")
        if cond:
            losers = [r["method"] for r in result["rows"] if r["task"] == task
                      and not r.get("reference") and "lpips" in r
                      and not (r["lpips_ci"][1] < cond["lpips_ci"][0]
                               and r["fid_ci"][1] < cond["fid_ci"][0])]
            out.append(_goal(task, "every model ahead of 'condition as output' on LPIPS and FID "
                             "beyond both intervals", not losers,
                             "all ahead" if not losers else "not ahead: " + ", ".join(losers)))
    return out


def _pair_text(p) -> str:
    if p is None:
        return "not measured"
    return f"diff {p['diff']:+.3f}, 95% CI [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]"


def _ci(r: dict, m: str, fmt: str, scale: float = 1.0) -> str:
    if m not in r:
        return "–"
    if f"{m}_ci" not in r:  # a first-version table: no intervals
        return format(r[m] * scale, fmt)
    lo, hi = r[f"{m}_ci"]
    return f"{format(r[m] * scale, fmt)} [{format(lo * scale, fmt)}, {format(hi * scale, fmt)}]"


def to_markdown(result: dict) -> str:
    """The benchmark as Markdown: one table per task, its paired comparisons, goals."""
    seeds = result.get("seeds", 1)
    lines = [f"# CoDi benchmark ({images_per_task(result)}, "
             f"{seeds} noise seed{'s' if seeds > 1 else ''})", "",
             f"- {result['fid_note']}; weights: {result['fid_weights']}",
             f"- {result['lpips_note']}; "
             + result.get("ci_note", "**no intervals** (a first-version table)")]
    if "fid_floor" in result:
        floors = [(ds, v) for ds, v in _data_sets(result).items() if "fid_floor" in v]
        lines.append("- real-data floor (random train images vs the reference split): " + "; ".join(
            f"{ds + ' ' if len(floors) > 1 else ''}FID {v['fid_floor']:.1f}, "
            f"KID {1000 * v['kid_floor']:.2f}e-3" for ds, v in floors))
    lines += [f"- latency: wall time of the sampler per image, batches of {result['batch_size']}; "
              f"{result['hardware']}; NFE counted by wrapping the network",
              f"- total benchmark time {result['seconds']} s", ""]
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        lines += [f"## {TASKS[task].title} (`{task}`)", "",
                  "| method | NFE | LPIPS ↓ [95% CI] | FID ↓ [95% CI] | KID ×1e3 ↓ [95% CI] | "
                  "PSNR ↑ | SSIM ↑ | ms / image | speed-up | trained (steps × batch) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in result["rows"] if r["task"] == task):
            if "missing" in r:
                lines.append(f"| {r['method']} | – | – | – | – | – | – | – | – | {r['missing']} |")
                continue
            lp = _ci(r, "lpips", ".3f") if "lpips" in r else "–"
            ps = f"{r['psnr']:.2f}" if "psnr" in r else "–"
            ss = f"{r['ssim']:.3f}" if "ssim" in r else "–"
            ms = f"{r['ms_per_image']:.2f}" if "ms_per_image" in r else "–"
            sp = f"{r['speedup_vs_ddim50']:.1f}x" if "speedup_vs_ddim50" in r else "–"
            budget = (f"{r['train_steps']} × {r.get('train_batch', '?')}" if r.get("train_steps")
                      else ("reference" if r.get("reference") else "–"))
            lines.append(f"| {r['method']} | {r.get('nfe', '–')} | {lp} | {_ci(r, 'fid', '.1f')} | "
                         f"{_ci(r, 'kid', '.2f', 1000)} | {ps} | {ss} | {ms} | {sp} | {budget} |")
        pairs = [p for p in result.get("paired", []) if p["task"] == task]
        if pairs:
            lines += ["", "Paired differences (a - b; negative = a better), 95% CI:", "",
                      "| a | b | metric | a - b | 95% CI |", "|---|---|---|---|---|"]
            lines += [f"| {p['a']} | {p['b']} | {p['metric'].upper()} | {p['diff']:+.3f} | "
                      f"[{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}] |" for p in pairs]
        gl = [g for g in result.get("goals", []) if g["task"] == task]
        if gl:
            lines += ["", "Goals:", ""]
            lines += [f"- {'met' if g['met'] else '**missed**'}: {g['goal']} ({g['detail']})"
                      for g in gl]
        lines.append("")
    return "\n".join(lines)


#: The README's columns: (heading, row key).
SUMMARY_COLUMNS = (("condition as output", "reference/condition/0"),
                   ("teacher DDIM-50", "controlnet/ddim/50"), ("DDIM-1", "controlnet/ddim/1"),
                   ("DDIM-4", "controlnet/ddim/4"), ("CM-II-4", "cm-two-stage/codi/4"),
                   ("CoDi-1", "codi/codi/1"), ("CoDi-4", "codi/codi/4"))


def summary_markdown(result: dict) -> str:
    """The short table of the README: per task, LPIPS / FID of the headline rows, the
    CoDi student's speed-up over DDIM-50 at 1 and 4 steps (same process), and how many
    of the task's goals are met. Written from ``bench.json`` by scripts/readme_tables.py."""
    head = ("| task | " + " | ".join(h for h, _ in SUMMARY_COLUMNS)
            + " | CoDi-1 / CoDi-4 speed-up | goals met |")
    lines = [head, "|---" * (len(SUMMARY_COLUMNS) + 3) + "|"]
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        cells = []
        for _, key in SUMMARY_COLUMNS:
            r = row(result, task, key)
            cells.append(f"{r['lpips']:.3f} / {r['fid']:.0f}" if r and "lpips" in r else "–")
        sp = [row(result, task, f"codi/codi/{k}") for k in (1, 4)]
        speed = " / ".join(f"{r['speedup_vs_ddim50']:.1f}x" if r and "speedup_vs_ddim50" in r
                           else "–" for r in sp)
        gl = [g for g in result.get("goals", []) if g["task"] == task]
        met = f"{sum(g['met'] for g in gl)} of {len(gl)}" if gl else "–"
        lines.append(f"| {TASKS[task].title} | " + " | ".join(cells) + f" | {speed} | {met} |")
    return "\n".join(lines) + "\n"


def plot_quality_vs_nfe(result: dict, task: str, axes=None):
    """LPIPS and FID against NFE (log axis) for ``task``: one line per method family,
    95% intervals as bands, DDIM-50, 'condition as output' and the real-data floor as
    horizontal references (bands only where the table has intervals; rows need ``key``, see
    :func:`codi_lib.course.benchtext.normalise` for tables of the older format). Returns
    the figure. Notebook 06."""
    import matplotlib.pyplot as plt
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    fig = axes[0].figure
    for ax, m in zip(axes, ("lpips", "fid")):
        for model, sampler, label in FAMILIES:
            rs = sorted((r for r in result["rows"] if r["task"] == task and r.get("model") == model
                         and r.get("sampler") == sampler and r.get("steps", 0) < 50 and m in r),
                        key=lambda r: r["nfe"])
            if not rs:
                continue
            nfe = [r["nfe"] for r in rs]
            line, = ax.plot(nfe, [r[m] for r in rs], marker="o", label=label)
            if all(r.get(f"{m}_ci") for r in rs):  # tables of the older format have none
                ax.fill_between(nfe, [r[f"{m}_ci"][0] for r in rs],
                                [r[f"{m}_ci"][1] for r in rs], color=line.get_color(), alpha=0.18)
        refs = [("controlnet/ddim/50", "DDIM-50", "k", "--"),
                ("reference/condition/0", "condition as output", "grey", ":")]
        if m == "fid":
            refs.append(("reference/floor/0", "real data (floor)", "green", "-."))
        for key, label, color, style in refs:
            r = row(result, task, key)
            if r is not None and m in r:
                ax.axhline(r[m], color=color, ls=style, lw=1, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("network evaluations (NFE)")
        ax.set_ylabel(f"{m.upper()} (lower is better)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{TASKS[task].title}: quality vs NFE ({task_images(result, task)} test images)")
    fig.tight_layout()
    return fig


def write_figures(result: dict, out_dir) -> list[Path]:
    """Save :func:`plot_quality_vs_nfe` as ``quality_vs_nfe_<task>.png`` per task."""
    from matplotlib.figure import Figure  # no pyplot: leaves a notebook's backend alone
    paths = []
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        fig = Figure(figsize=(10, 3.6))
        plot_quality_vs_nfe(result, task, axes=fig.subplots(1, 2))
        p = Path(out_dir) / f"quality_vs_nfe_{task}.png"
        fig.savefig(p, dpi=110)
        paths.append(p)
    return paths
