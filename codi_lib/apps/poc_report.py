"""The self-contained HTML report of ``codi poc``: the page is the template
``templates/poc_report.html`` (:class:`string.Template`); this module only fills in its
``$fields`` (tables rows, numbers, images as base64 PNG). Introduced in
``notebooks/08_your_images.ipynb``. No paper equation.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent / "templates" / "poc_report.html"


def png_b64(img, scale: int = 1) -> str:
    """One image (3, H, W) in [-1, 1] as a base64 PNG, enlarged ``scale`` times."""
    from PIL import Image

    from ..training.data import to_uint8_images
    im = Image.fromarray(to_uint8_images(img)[0])
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def duration(seconds: float) -> str:
    """``12.3 s`` or ``4.1 min``."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt(v, digits=3, unit=""):
    """A number with ``digits`` decimals, or ``n/a`` for None/NaN/inf."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}{unit}"


def _row(cells, tag="td", cls="") -> str:
    attr = f" class='{cls}'" if cls else ""
    return f"<tr{attr}>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _settings_rows(data: dict) -> str:
    s, d, e = data["settings"], data["data"], html.escape
    rows = [
        ("image folder", s["images"]), ("task", f"{s['task']} ({data['task_title']})"),
        ("resolution", f"{data['size']}x{data['size']} px (shorter side resized, centre crop)"),
        ("images", f"{d['usable']} usable: {d['train']} for training, {d['heldout']} held out; "
                   f"{len(d['bad'])} unusable, {len(d['ignored'])} other files ignored"),
        ("unconditional teacher", s["teacher"]),
        ("start", "; ".join(f"{r['name']} {r['start']}" for r in data["runs"].values()
                            if "start" in r)),
        ("runs", f"controlnet teacher {s['teacher_steps']} steps, {s['student_mode']} student "
                 f"{s['student_steps']} steps; batch {s['batch_size']}, lr {s['lr']}, "
                 f"EMA {s['ema_decay']}, seed {s['seed']}"),
        ("evaluation", f"teacher DDIM-{s['eval_teacher_steps']}, student CoDi-"
                       f"{s['eval_student_steps']}, same noise; latency = median of "
                       f"{1 + max(0, s['latency_repeats'])} run(s) / image"),
        ("hardware", data["hardware"]), ("software", data["software"]),
        ("output folder", s["out"]), ("written", data["written"]),
    ]
    return "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows)


def _result_row(r: dict) -> str:
    lat = "n/a" if r["latency_s"] is None else f"{r['latency_s'] * 1000:.1f} ms"
    return _row([html.escape(r["method"]), r["nfe"], fmt(r["lpips"]), fmt(r["psnr"], 2),
                 fmt(r.get("fid"), 1), lat, fmt(r["speedup"], 1, "x") if r["speedup"] else "n/a"])


def _image_rows(data: dict, shown: int) -> str:
    smp, files = data["evaluation"]["samples"], data["data"]["heldout_files"]
    rows = []
    for i in range(shown):
        cells = "".join(f"<td><img class='px' alt='{k}' src='data:image/png;base64,"
                        f"{png_b64(smp[k][i])}'></td>"
                        for k in ("condition", "teacher", "student", "student_mean", "truth")
                        if k in smp)
        rows.append(f"<tr><td>{html.escape(Path(files[i]).name)}</td>{cells}</tr>")
    return "\n".join(rows)


def _file_notes(data: dict) -> tuple[str, str]:
    d, e = data["data"], html.escape
    if d["bad"]:
        verb = "skipped" if data["settings"]["on_bad"] == "skip" else "reported"
        unusable = (f"<p class='bad'>{len(d['bad'])} file(s) could not be used and were {verb}:"
                    "</p><table><tr><th>file</th><th>reason</th></tr>"
                    + "".join(_row([e(p), e(r)], cls="bad") for p, r in d["bad"]) + "</table>")
    else:
        unusable = "<p>None: every image file was usable.</p>"
    ignored = ("<p class='note'>Ignored (not an image extension): "
               + ", ".join(e(p) for p in d["ignored"]) + "</p>") if d["ignored"] else ""
    return unusable, ignored


def _versus(r: dict, base: dict) -> tuple[bool, bool, str]:
    """(clearly ahead on LPIPS, clearly ahead on PSNR, the sentence's numbers) of row
    ``r`` against ``base``. Clearly ahead: the paired 95% interval of the difference
    (``r["vs_no_model"]``) excludes zero on the good side; without intervals (an older
    report), ahead at all."""
    vs = r.get("vs_no_model")
    if vs:
        lp, ps = vs["lpips"]["ci"][1] < 0, vs["psnr"]["ci"][0] > 0
    else:
        lp, ps = r["lpips"] < base["lpips"], r["psnr"] > base["psnr"]
    nums = (f"LPIPS {fmt(r['lpips'])} vs {fmt(base['lpips'])}, "
            f"PSNR {fmt(r['psnr'], 2)} vs {fmt(base['psnr'], 2)} dB")
    if vs:
        ci = {m: vs[m]["ci"] for m in ("lpips", "psnr")}
        nums += (f"; differences {vs['lpips']['diff']:+.3f} [{ci['lpips'][0]:+.3f}, "
                 f"{ci['lpips'][1]:+.3f}] and {vs['psnr']['diff']:+.2f} [{ci['psnr'][0]:+.2f}, "
                 f"{ci['psnr'][1]:+.2f}] dB, 95% intervals over the held-out images")
    return lp, ps, nums


def _mean_paragraph(student: dict, mean: dict, base: dict) -> str:
    """What the posterior-mean diagnostic row says about the student's PSNR against the
    no-model baseline (see :func:`codi_lib.apps.poc.mean_of_samples`)."""
    _, ps_mean, nums = _versus(mean, base)
    _, ps_student, _ = _versus(student, base)
    why = ("A sample from an exact model has twice the squared error of the posterior mean "
           "(about 3 dB less PSNR), so a sharp sample can lose to a smooth baseline on PSNR "
           "and still be the better picture.")
    if ps_mean and not ps_student:
        verdict = ("the average is clearly ahead of the baseline on PSNR where the single "
                   "sample is not: much of the sample's PSNR deficit is its sampled detail, "
                   "which averaging removes")
    elif ps_mean:
        verdict = "both the sample and the average are clearly ahead of the baseline on PSNR"
    else:
        verdict = ("even the average is not clearly ahead of the baseline on PSNR: the model "
                   "itself is off on these images (a prior learnt on other images), not only "
                   "the sampling")
    return (f"<p>{html.escape(why)} The {html.escape(mean['method'])} estimates that mean: "
            f"{verdict} ({nums}).</p>")


def headline(ev: dict) -> str:
    """The report's first paragraphs: each model against the no-model baseline first
    (said plainly when a model loses to it or is not clearly ahead), then the student's
    speed-up."""
    e = html.escape
    teacher, student = ev["rows"][0], ev["rows"][1]
    base = next((r for r in ev["rows"] if r["key"] == "condition"), None)
    parts = []
    if base is not None:
        for r in (teacher, student):
            lp, ps, nums = _versus(r, base)
            behind = r["lpips"] > base["lpips"] and r["psnr"] < base["psnr"]
            if lp and ps:
                verdict = "<b>clearly better than doing nothing</b> on both metrics"
            elif behind:
                verdict = ("<b class='bad'>worse than doing nothing</b>: on these images it loses to "
                           "the no-model baseline on both metrics; train longer (raise --steps) "
                           "or use more images before trusting it")
            elif lp or ps:
                verdict = (f"<b>mixed</b> against doing nothing: clearly ahead on "
                           f"{'LPIPS' if lp else 'PSNR'}, not on {'PSNR' if lp else 'LPIPS'}")
            else:
                verdict = ("<b class='bad'>not clearly better than doing nothing</b>: neither "
                           "difference is beyond its 95% interval")
            parts.append(f"<p class='big'>{e(r['method'])} is {verdict} "
                         f"({nums}; baseline: {e(base['method'])}).</p>")
    mean = next((r for r in ev["rows"] if r["key"] == "student_mean"), None)
    if base is not None and mean is not None:
        parts.append(_mean_paragraph(student, mean, base))
    parts.append(f"<p>The student needs {student['nfe']} network evaluations instead of "
                 f"{teacher['nfe']}: <b>{fmt(student['speedup'], 1)}x faster</b> per image "
                 f"({fmt(student['latency_s'] * 1000, 1)} ms vs {fmt(teacher['latency_s'] * 1000, 1)} ms), "
                 f"LPIPS {fmt(student['lpips'])} vs the teacher's {fmt(teacher['lpips'])} "
                 "(lower is better).</p>")
    return "\n".join(parts)


def render_report(data: dict) -> str:
    """The self-contained HTML report (every image a base64 PNG)."""
    e = html.escape
    s, ev = data["settings"], data["evaluation"]
    runs = list(data["runs"].values())
    shown = min(ev["n_heldout"], 16)
    unusable, ignored = _file_notes(data)
    return Template(TEMPLATE.read_text()).substitute(
        task_title=e(data["task_title"]), n_heldout=ev["n_heldout"], images=e(s["images"]),
        headline=headline(ev),
        settings_rows=_settings_rows(data),
        training_rows="\n".join(_row([e(r["name"]), e(r["mode"]), r["steps"], duration(r["train_seconds"]),
                                      fmt(r["final_loss"], 4), e(r["status"])]) for r in runs),
        total_training=duration(sum(r["train_seconds"] for r in runs)), hardware=e(str(runs[0]["hardware"])),
        result_rows="\n".join(_result_row(r) for r in ev["rows"]),
        cached_note=" Evaluation reused from the cache (runs unchanged)." if ev.get("cached") else "",
        shown=shown, eval_teacher_steps=s["eval_teacher_steps"], eval_student_steps=s["eval_student_steps"],
        image_rows=_image_rows(data, shown), unusable=unusable, ignored=ignored,
        mean_header=(f"<th>mean of {s.get('mean_samples', 0)} student samples</th>"
                     if "student_mean" in ev["samples"] else ""))
