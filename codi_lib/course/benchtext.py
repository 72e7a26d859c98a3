"""Benchmark figures and sentences rendered at run time from ``data/bench/bench.json``,
so no notebook types a benchmark number into its text and every headline comparison
says what the current table shows.

* :func:`normalise` gives rows of the older table format (without ``key`` or intervals)
  the ``key`` "model/sampler/steps" that :func:`codi_lib.evaluation.bench_report.row`
  looks up;
* :func:`bench_value` and :func:`bench_table` render values with their 95% interval
  ("no interval" where the table has none);
* :func:`compare` decides, from the paired difference's interval (or, failing that, the two
  rows' intervals), whether a is better, worse or level with b; :func:`bench_sentence`
  says it in words and :func:`headline` gives the course's headline comparisons.
Introduced in notebooks/06_measuring.ipynb. No paper equation (the paper's Table 1 reports
FID and LPIPS the same way, one row per method and step count).
"""
from __future__ import annotations

from ..evaluation.bench_report import images_per_task, pair, row

#: Metrics where a lower value is better; the others (PSNR, SSIM) are better when higher.
LOWER_IS_BETTER = {"lpips", "fid", "kid", "ms_per_image"}
_FMT = {"lpips": ".3f", "fid": ".1f", "kid": ".4f", "psnr": ".2f", "ssim": ".3f",
        "ms_per_image": ".1f", "nfe": "d"}


def normalise(result: dict | None) -> dict | None:
    """``result`` with every row given a ``key`` = "model/sampler/steps" when it lacks one
    (the older table format); rows and top level are otherwise unchanged. None stays None.
    Introduced in notebooks/06_measuring.ipynb."""
    if result is None:
        return None
    for r in result.get("rows", []):
        if "key" not in r and r.get("model"):
            r["key"] = f"{r['model']}/{r.get('sampler', '')}/{r.get('steps', 0)}"
    return result


def _row(result, task, key):
    return row(normalise(result), task, key) or next(
        (r for r in result.get("rows", []) if r.get("task") == task and r.get("key") == key
         and "missing" not in r), None)


def bench_value(result: dict, task: str, key: str, metric: str = "lpips") -> str:
    """One measured value as text, "0.159 [0.150, 0.168]" with its 95% interval, or
    "0.159 (no interval)" where the table has none, or "not measured".
    Introduced in notebooks/06_measuring.ipynb."""
    r = _row(result, task, key)
    if r is None or metric not in r:
        return "not measured"
    fmt = _FMT.get(metric, ".3g")
    ci = r.get(f"{metric}_ci")
    if ci:
        return f"{format(r[metric], fmt)} [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"
    return f"{format(r[metric], fmt)} (no interval)"


class Markdown(str):
    """A Markdown string that Jupyter renders as Markdown and ``print`` shows as text."""

    def _repr_markdown_(self):
        return str(self)


def bench_table(result: dict, task: str, keys=None,
                metrics=("nfe", "lpips", "fid", "psnr", "ssim")) -> Markdown:
    """The rows ``keys`` of ``task`` (default: all measured rows) as a Markdown table, each
    value with its interval where the table has one. Introduced in
    notebooks/05_consistency_loss.ipynb and notebooks/06_measuring.ipynb."""
    normalise(result)
    keys = keys or [r["key"] for r in result["rows"] if r.get("task") == task and "key" in r
                    and "missing" not in r]
    head = "| method | key | " + " | ".join(m.upper() for m in metrics) + " | trained |"
    lines = [head, "|" + "---|" * (len(metrics) + 3)]
    for key in keys:
        r = _row(result, task, key)
        if r is None:
            lines.append(f"| – | {key} | " + " | ".join("–" for _ in metrics) + " | not in table |")
            continue
        vals = [bench_value(result, task, key, m) if m != "nfe" else str(r.get("nfe", "–"))
                for m in metrics]
        steps = r.get("train_steps")
        budget = (f"{steps} × {r['train_batch']}" if steps and r.get("train_batch")
                  else (str(steps) if steps else "–"))
        lines.append(f"| {r.get('method', key)} | `{key}` | " + " | ".join(vals) + f" | {budget} |")
    return Markdown("\n".join(lines))


def compare(result: dict, task: str, a: str, b: str, metric: str = "lpips") -> dict:
    """Is ``a`` better, worse or level with ``b`` on ``metric``? Decided by the 95% interval
    of the paired difference a - b when the table has it, else by whether the two rows'
    intervals overlap, else ``"no interval"``. Returns a dict with ``verdict`` ("better",
    "worse", "level", "no interval", "not measured"), ``diff`` (a - b), ``ci`` and ``how``.
    Introduced in notebooks/06_measuring.ipynb."""
    ra, rb = _row(result, task, a), _row(result, task, b)
    if ra is None or rb is None or metric not in ra or metric not in rb:
        return {"verdict": "not measured", "diff": None, "ci": None, "how": ""}
    diff, sign = ra[metric] - rb[metric], (-1 if metric in LOWER_IS_BETTER else 1)
    p = pair(result, task, a, b, metric) if result.get("paired") else None
    if p is not None:
        diff, lo, hi, how = p["diff"], p["ci"][0], p["ci"][1], "the paired difference's 95% interval"
    elif ra.get(f"{metric}_ci") and rb.get(f"{metric}_ci"):
        (al, ah), (bl, bh) = ra[f"{metric}_ci"], rb[f"{metric}_ci"]
        lo, hi, how = al - bh, ah - bl, "the two rows' 95% intervals"
    else:
        return {"verdict": "no interval", "diff": diff, "ci": None, "how": "no interval"}
    if lo <= 0 <= hi:
        verdict = "level"
    else:
        verdict = "better" if sign * diff > 0 else "worse"
    return {"verdict": verdict, "diff": diff, "ci": (lo, hi), "how": how}


def _label(result, task, key):
    r = _row(result, task, key)
    return r.get("method", key) if r else key


def bench_sentence(result: dict, task: str, a: str, b: str, metric: str = "lpips") -> str:
    """One sentence comparing rows ``a`` and ``b`` of ``task`` on ``metric``, decided by
    :func:`compare` and worded from the numbers, e.g. "sr4, LPIPS: CoDi-4 0.159 [..] vs
    DDIM-4 0.157 [..]: level within the interval (...)". Introduced in
    notebooks/06_measuring.ipynb."""
    c = compare(result, task, a, b, metric)
    la, lb = _label(result, task, a), _label(result, task, b)
    head = (f"{task}, {metric.upper()}: {la} {bench_value(result, task, a, metric)} vs "
            f"{lb} {bench_value(result, task, b, metric)}")
    v = c["verdict"]
    if v == "not measured":
        return f"{task}, {metric.upper()}: {la} vs {lb}: not both in the table."
    if v == "no interval":
        return (f"{head}: this table has no intervals, so a difference of {c['diff']:+.3g} "
                "cannot be called either way.")
    ci = f"a - b = {c['diff']:+.3g}, interval [{c['ci'][0]:+.3g}, {c['ci'][1]:+.3g}] from {c['how']}"
    if v == "level":
        return f"{head}: {la} is level with {lb} within the interval ({ci})."
    return f"{head}: {la} is {v} than {lb} ({ci})."


#: Said beside a first-version table (no intervals): it is older than the shipped models.
OLD_TABLE_NOTE = ("*This table is from the first benchmark, which measured the models trained "
                  "on the first teacher (teacher v1). The shipped models are retrained on "
                  "teacher v2 (`data/students/README.md` lists each model's teacher), so the "
                  "table does not describe them; the benchmark of the retrained models "
                  "replaces it.*")


#: The headline comparisons of the course: the student against the teacher's own few-step
#: sampler at the same NFE, and against the teacher's 50-step sampler.
HEADLINE_PAIRS = (("codi/codi/{k}", "controlnet/ddim/{k}"), ("codi/codi/{k}", "controlnet/ddim/50"))


def headline(result: dict | None, task: str | None = None, steps: int | tuple = 4,
             metrics=("lpips", "fid")) -> Markdown:
    """The headline comparisons of :data:`HEADLINE_PAIRS` at ``steps`` steps (one count or
    several, e.g. ``(1, 4)``), one bullet per task, step count, pair and metric, each from
    :func:`bench_sentence`; a note when there is no table.
    Introduced in notebooks/00_welcome.ipynb and notebooks/07_side_by_side.ipynb."""
    if not result:
        return Markdown("No benchmark table (data/bench/bench.json): run `codi bench` to "
                        "measure before drawing any conclusion.")
    normalise(result)
    tasks = [task] if task else list(dict.fromkeys(r["task"] for r in result["rows"]))
    counts = (steps,) if isinstance(steps, int) else tuple(steps)
    said = " and ".join(str(k) for k in counts)
    lines = [f"What the current table ({result.get('path', 'bench.json')}, "
             f"{images_per_task(result)}) shows at {said} steps:", ""]
    if not ("seeds" in result and "fid_floor" in result):
        lines += [OLD_TABLE_NOTE, ""]
    for t in tasks:
        for k in counts:
            for a, b in HEADLINE_PAIRS:
                if k != counts[-1] and b.endswith("/50"):
                    continue  # the student against DDIM-50: once per task, at the last count
                for m in metrics:
                    lines.append("* " + bench_sentence(result, t, a.format(k=k), b.format(k=k), m))
    return Markdown("\n".join(lines))


def bench_markdown(result: dict) -> Markdown:
    """The whole table as Markdown: :func:`codi_lib.evaluation.bench_report.to_markdown`
    (intervals, paired differences, goals) for tables of the current format, else one
    :func:`bench_table` per task with a note that the table has no intervals.
    Introduced in notebooks/06_measuring.ipynb."""
    from ..evaluation.bench_report import to_markdown
    normalise(result)
    if "seeds" in result and "fid_floor" in result:
        return Markdown(to_markdown(result))
    lines = [f"Benchmark ({result.get('path', 'bench.json')}, {images_per_task(result)}; an "
             "older table without intervals: no difference in it can be called significant)",
             "", OLD_TABLE_NOTE, ""]
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        lines += [f"**{task}**", "", bench_table(result, task), ""]
    return Markdown("\n".join(lines))


def teacher_quality_markdown(q: dict | None) -> Markdown:
    """A teacher's ``quality.json`` (``codi eval-teacher``) in words: FID and KID against
    the real-data floor, the high-frequency ratio, and whether each goal of
    :mod:`codi_lib.evaluation.teacher_quality` is met. Introduced in
    notebooks/02_teacher.ipynb."""
    from ..evaluation.teacher_quality import FID_OVER_FLOOR_GOAL, HF_RATIO_GOAL
    if not q:
        return Markdown("No measurement (quality.json): run `codi eval-teacher` first.")
    ratio = q["fid"] / q["fid_floor"]
    lo, hi = HF_RATIO_GOAL
    hf = q["hf_ratio"]
    shape = "as sharp as real images" if lo <= hf <= hi else (
        "speckled (more fine detail than real images)" if hf > hi else "blurred")
    met = lambda ok: "met" if ok else "**not met**"
    return Markdown("\n".join([
        f"Measured with `codi eval-teacher`: {q['n']} samples ({q.get('sampler', 'DDIM-50')}) "
        f"against the {q.get('reference', 'test split')}:", "",
        f"* FID {q['fid']:.1f} against a real-data floor of {q['fid_floor']:.1f} "
        f"({q.get('floor', 'real training images')}): {ratio:.2f}x the floor; goal at most "
        f"{FID_OVER_FLOOR_GOAL}x: {met(ratio <= FID_OVER_FLOOR_GOAL)}.",
        f"* KID {q['kid']:.4f} ± {q['kid_std']:.4f} against {q['kid_floor']:.4f} for the floor.",
        f"* High-frequency ratio {hf:.3f} (real training images: {q.get('hf_ratio_floor', 1.0):.3f}): "
        f"{shape}; goal {lo}-{hi}: {met(lo <= hf <= hi)}."]))


#: Rows that cost no training beyond the conditional teacher, and the distilled ones.
TRAINING_FREE = ("controlnet/ddim/", "controlnet/dpmsolver++/")
DISTILLED = ("codi/codi/", "pe-codi/codi/", "cm-two-stage/codi/")


def cheapest_within(result: dict, task: str, prefixes, tol: float = 0.05,
                    metrics=("lpips", "fid"), reference: str = "controlnet/ddim/50") -> dict | None:
    """The row of ``task`` with the fewest network evaluations among the keys starting
    with one of ``prefixes`` whose every metric of ``metrics`` (lower is better) is
    within ``tol`` of the ``reference`` row (at most (1 + tol) times its value); the
    reference itself is not a candidate. None when no such row was measured.
    Introduced in notebooks/07_side_by_side.ipynb."""
    normalise(result)
    ref = _row(result, task, reference)
    if ref is None or any(m not in ref for m in metrics):
        return None
    ok = [r for r in result["rows"]
          if r.get("task") == task and "missing" not in r and r.get("key") != reference
          and any(r.get("key", "").startswith(p) for p in prefixes)
          and all(m in r and r[m] <= (1 + tol) * ref[m] for m in metrics)]
    return min(ok, key=lambda r: (r.get("nfe") or r.get("steps", 0), r.get("ms_per_image", 0)),
               default=None)


def _deploy_cell(r: dict | None) -> str:
    if r is None:
        return "none of the measured step counts"
    ms = f", {r['ms_per_image']:.1f} ms/image" if "ms_per_image" in r else ""
    return f"{r.get('method', r['key'])}: {r.get('nfe', r.get('steps'))} NFE{ms}"


def deployment_summary(result: dict | None, tol: float = 0.05, metrics=("lpips", "fid")) -> Markdown:
    """Which sampler to deploy, read from the table: per task, the cheapest training-free
    sampler of the conditional teacher (DDIM, DPM-Solver++) and the cheapest distilled
    model (CoDi, PE-CoDi, CM-II) whose ``metrics`` are all within ``tol`` of the
    teacher's DDIM-50 (:func:`cheapest_within`), and what distillation buys: the ratio of
    their NFE, or that a training-free sampler is enough at the measured step counts.
    A comparison of means at a fixed tolerance, not a significance test: the table's
    intervals (:func:`bench_sentence`) say which differences are real.
    Introduced in notebooks/07_side_by_side.ipynb."""
    if not result:
        return Markdown("No benchmark table (data/bench/bench.json): nothing to decide from.")
    normalise(result)
    names = " and ".join(m.upper() for m in metrics)
    lines = [f"The cheapest way to reach the teacher's DDIM-50 quality (every one of {names} "
             f"within {tol:.0%} of its value) in the current table:", ""]
    if not ("seeds" in result and "fid_floor" in result):
        lines += [OLD_TABLE_NOTE, ""]
    lines += ["| task | training-free (teacher + solver) | distilled (one training run) | "
              "what distillation buys |", "|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in result["rows"] if "task" in r):
        if _row(result, task, "controlnet/ddim/50") is None:
            continue
        free = cheapest_within(result, task, TRAINING_FREE, tol, metrics)
        dist = cheapest_within(result, task, DISTILLED, tol, metrics)
        if dist is None:
            buys = "nothing at the measured step counts"
        elif free is None:
            buys = (f"the quality at {dist.get('nfe')} NFE, which no measured training-free "
                    "step count reaches")
        else:
            ratio = (free.get("nfe") or 0) / max(1, dist.get("nfe") or 1)
            buys = (f"{ratio:.0f}x fewer evaluations" if ratio > 1 else
                    "nothing: a training-free sampler is as cheap")
        lines.append(f"| {task} | {_deploy_cell(free)} | {_deploy_cell(dist)} | {buys} |")
    return Markdown("\n".join(lines))
