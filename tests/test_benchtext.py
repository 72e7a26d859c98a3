"""The benchmark renderers of the notebooks work on the current table format (intervals,
paired differences; tests/fixtures/bench_v2.json, a real 16-image run) and degrade
gracefully on the older one (no keys, no intervals), and their verdicts follow the numbers."""
import copy
import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
from codi_lib.course import benchtext as bt  # noqa: E402
from codi_lib.evaluation.bench_report import pair  # noqa: E402

V2 = json.loads((Path(__file__).parent / "fixtures" / "bench_v2.json").read_text())


def _old():
    """The fixture in the older format: no keys, intervals, reference rows or pairs."""
    old = {k: V2[k] for k in ("n_images", "batch_size", "fid_note", "fid_weights", "lpips_note",
                              "hardware", "seconds")}
    old["rows"] = [{k: v for k, v in r.items() if k != "key" and not k.endswith("_ci")}
                   for r in V2["rows"] if not r.get("reference")]
    return old


def test_old_format_gets_keys_and_says_no_interval():
    old = bt.normalise(_old())
    assert all("key" in r for r in old["rows"])
    assert bt.bench_value(old, "sr4", "codi/codi/4", "lpips").endswith("(no interval)")
    assert bt.compare(old, "sr4", "codi/codi/4", "controlnet/ddim/4")["verdict"] == "no interval"
    assert "cannot be called" in bt.bench_sentence(old, "sr4", "codi/codi/4", "controlnet/ddim/4")
    assert "without intervals" in bt.bench_markdown(old)
    # an old table is older than the shipped models, and says so; a current one does not
    assert bt.OLD_TABLE_NOTE in bt.bench_markdown(old) and bt.OLD_TABLE_NOTE in bt.headline(old)
    assert bt.OLD_TABLE_NOTE not in bt.headline(copy.deepcopy(V2), "sr4")


def test_verdict_follows_the_paired_interval():
    res = copy.deepcopy(V2)
    for p in res["paired"]:
        lo, hi = p["ci"]
        c = bt.compare(res, p["task"], p["a"], p["b"], p["metric"])
        want = "level" if lo <= 0 <= hi else ("better" if p["diff"] < 0 else "worse")
        assert c["verdict"] == want and c["how"].startswith("the paired")
    # make the interval exclude 0 and the verdict must change accordingly
    p = res["paired"][0]
    p["diff"], p["ci"] = 0.05, [0.01, 0.09]
    assert bt.compare(res, p["task"], p["a"], p["b"], p["metric"])["verdict"] == "worse"
    assert " is worse than " in bt.bench_sentence(res, p["task"], p["a"], p["b"], p["metric"])


def test_headline_and_table_render_current_numbers():
    res = copy.deepcopy(V2)
    text = bt.headline(res, "sr4", steps=4)
    r = next(r for r in res["rows"] if r.get("key") == "codi/codi/4" and r["task"] == "sr4")
    assert f"{r['lpips']:.3f}" in text
    assert "| `codi/codi/4` |" in bt.bench_table(res, "sr4", ["codi/codi/4"])
    assert "not in table" in bt.bench_table(res, "sr4", ["nope/x/1"])
    assert bt.headline(None).startswith("No benchmark table")
    # several step counts: the student against DDIM-k at each, against DDIM-50 once (at the last)
    both = bt.headline(res, "sr4", steps=(1, 4), metrics=("lpips",))
    assert "at 1 and 4 steps" in both
    assert both.count("vs ControlNet teacher, DDIM-50") == 1 and "CoDi-1" in both and "CoDi-4" in both


@pytest.mark.parametrize("fmt", ["v2", "old"])
def test_quality_vs_nfe_figure_on_both_formats(fmt):
    from codi_lib.course import plots
    res = copy.deepcopy(V2) if fmt == "v2" else _old()
    fig = plots.plot_quality_vs_nfe(res, "sr4", show=False)
    assert len(fig.axes) == 2 and fig.axes[0].lines


def test_pair_helper_is_what_compare_reads():
    p = V2["paired"][0]
    assert pair(V2, p["task"], p["a"], p["b"], p["metric"]) is p


def test_no_benchmark_number_is_typed_into_notebook_markdown():
    """Benchmark values reach the notebooks only through the renderers at run time."""
    import re
    repo = Path(__file__).resolve().parent.parent
    bench = json.loads((repo / "data" / "bench" / "bench.json").read_text())
    values = set()
    for r in bench["rows"]:
        for m, fmt in (("lpips", ".3f"), ("fid", ".1f"), ("psnr", ".2f"), ("ssim", ".3f")):
            if isinstance(r.get(m), (int, float)):
                values.add(format(r[m], fmt))
    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            numbers = set(re.findall(r"\d+\.\d+", "".join(cell["source"])))
            typed = numbers & values
            assert not typed, f"{nb.name} cell {i} types benchmark numbers {sorted(typed)}"


def _set(res, task, key, **vals):
    r = next(r for r in res["rows"] if r.get("task") == task and r.get("key") == key)
    r.update(vals)


def test_deployment_summary_picks_the_cheapest_row_within_the_tolerance():
    res = copy.deepcopy(V2)
    for r in res["rows"]:
        if r.get("task") == "sr4" and not r.get("reference"):
            r.update(lpips=1.0, fid=500.0)  # far from the teacher unless set below
    _set(res, "sr4", "controlnet/ddim/50", lpips=0.200, fid=100.0)
    _set(res, "sr4", "controlnet/dpmsolver++/8", lpips=0.209, fid=104.0)  # within 5%
    _set(res, "sr4", "controlnet/dpmsolver++/4", lpips=0.211, fid=104.0)  # LPIPS 5.5% off
    _set(res, "sr4", "codi/codi/2", lpips=0.205, fid=103.0)
    _set(res, "sr4", "pe-codi/codi/4", lpips=0.203, fid=101.0)
    free = bt.cheapest_within(res, "sr4", bt.TRAINING_FREE)
    dist = bt.cheapest_within(res, "sr4", bt.DISTILLED)
    assert free["key"] == "controlnet/dpmsolver++/8" and dist["key"] == "codi/codi/2"
    text = bt.deployment_summary(res)
    line = next(ln for ln in text.splitlines() if ln.startswith("| sr4 |"))
    assert "4x fewer evaluations" in line
    # tighter than any row: nothing qualifies, and the summary says so
    assert bt.cheapest_within(res, "sr4", bt.DISTILLED, tol=0.0) is None
    line = next(ln for ln in bt.deployment_summary(res, tol=0.0).splitlines() if ln.startswith("| sr4 |"))
    assert "none of the measured step counts" in line and "nothing" in line
    # a training-free sampler as cheap as the student: distillation buys nothing
    _set(res, "sr4", "controlnet/ddim/2", lpips=0.201, fid=100.0)
    line = next(ln for ln in bt.deployment_summary(res).splitlines() if ln.startswith("| sr4 |"))
    assert "a training-free sampler is as cheap" in line
    assert "No benchmark table" in bt.deployment_summary(None)
