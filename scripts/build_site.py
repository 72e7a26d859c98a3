#!/usr/bin/env python
"""Build the course as a static, offline web site: ``site/index.html`` + one page and one
slide deck per notebook, with working widgets, and the host's kit from ``docs/``.

    python scripts/build_site.py                 # every notebook, lesson size
    python scripts/build_site.py --fast          # CODI_FAST=1 (quicker, smaller)
    python scripts/build_site.py --only 07 --out /tmp/site
    python scripts/build_site.py --no-slides     # pages only

What it does, in order:

1. Vendors the JavaScript the pages need from the npm registry, once, into
   ``build/site-vendor/`` (``npm pack``; nothing is committed): the widget renderer
   ``@jupyter-widgets/html-manager`` (its ``dist/`` bundle, which contains the core
   widgets' code, CSS and fonts), ``requirejs`` (the bundle is an AMD module) and
   ``mathjax`` 2 (the notebooks' equations; the lab
   template and the widget renderer both speak MathJax 2), and for the slides
   ``reveal.js`` 4 and ``jquery`` (nbconvert's reveal template loads both). They are copied
   into ``<out>/_static/``
   with their licences; later builds reuse the download (``--vendor-dir`` to use
   another folder, e.g. one prepared on a machine with network access).
2. Executes the notebooks in order, each in a fresh kernel started in ``notebooks/``,
   with ``CODI_FAST`` set as asked and ``store_widget_state=True`` so that the widgets'
   state (every model, every ``jslink``) is saved in the notebook.
3. Exports each to HTML with nbconvert's ``lab`` template, pointing the widget
   renderer, require.js and MathJax at ``_static/`` (relative paths, never a CDN), and
   checks that no page loads anything from the network.
4. Exports each to slides (``<name>.slides.html``) with nbconvert's reveal.js exporter,
   from the same executed notebook: a new slide at every ``#``/``##`` heading, a
   sub-slide (arrow down) at every ``###`` heading, long slides scroll. Same offline
   check. ``--no-slides`` skips them.
5. Renders the host's kit (``docs/*.md``: agenda, instructor notes, glossary, cheat
   sheet) to printable pages in ``<out>/docs/`` (``scripts/build_docs.py``).
6. Writes ``index.html`` listing the lessons with their run times and slides.

Both languages (``--lang all``, the default): the Japanese notebooks (``notebooks/ja``,
built by ``scripts/build_ja.py``; each runs in a kernel started in ``notebooks/ja``) become
``<name>.ja.html`` / ``<name>.ja.slides.html`` and ``index.ja.html`` next to the English
pages, so they share ``_static/`` and work offline the same way. Every page carries a
small language switch linking it to its twin in the other language (that language's
index page when a notebook has no twin yet), and the index pages link the host's kit in
their language (``docs/ja/``). ``--lang en`` or ``--lang ja`` builds one language.

Needs ``npm`` the first time (or a filled ``--vendor-dir``). Exit status 1 if a
notebook fails (the others are still built with ``--keep-going``).
No paper equation: this is course tooling (introduced in notebooks/07_side_by_side.ipynb).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
DEFAULT_OUT = REPO / "site"
DEFAULT_VENDOR = REPO / "build" / "site-vendor"

#: npm packages vendored into _static (name, version). The html-manager 1.0.x line is the
#: renderer of ipywidgets 8 (widget state version 2, @jupyter-widgets/controls 5).
HTML_MANAGER = ("@jupyter-widgets/html-manager", "1.0.15")
REQUIREJS = ("requirejs", "2.3.8")
MATHJAX = ("mathjax", "2.7.9")
#: the slides: nbconvert's reveal template is written for reveal.js 4 (dist/reveal.js,
#: plugin/notes/notes.js, dist/theme/*.css) and loads jQuery before require.js
REVEAL = ("reveal.js", "4.6.0")
JQUERY = ("jquery", "3.7.1")

STATIC = "_static"
WIDGET_JS = f"{STATIC}/html-manager/embed-amd.js"
REQUIRE_JS = f"{STATIC}/require.js"
# the lab template configures MathJax 2 (MathJax.Hub), as does the widget renderer
MATHJAX_JS = f"{STATIC}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
REVEAL_PREFIX = f"{STATIC}/reveal.js"
JQUERY_JS = f"{STATIC}/jquery.min.js"


def log(msg: str) -> None:
    print(f"[build_site] {msg}", flush=True)


# --------------------------------------------------------------------------- vendoring


def _tarball_name(name: str, version: str) -> str:
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch_npm_package(name: str, version: str, vendor_dir: Path) -> Path:
    """The npm tarball of ``name@version`` in ``vendor_dir`` (``npm pack`` if absent)."""
    vendor_dir.mkdir(parents=True, exist_ok=True)
    tgz = vendor_dir / _tarball_name(name, version)
    if tgz.is_file():
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        return _download_from_registry(name, version, tgz)
    log(f"npm pack {name}@{version}")
    res = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(vendor_dir)],
                         capture_output=True, text=True)
    if res.returncode != 0 or not tgz.is_file():
        raise SystemExit(f"`npm pack {name}@{version}` failed (no registry access?):\n"
                         f"{res.stderr.strip()[-2000:]}")
    return tgz


def _download_from_registry(name: str, version: str, tgz: Path) -> Path:
    """Without npm: the same tarball straight from the npm registry, checked against the
    registry's sha512 integrity value."""
    import base64
    import hashlib
    import urllib.request
    registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
    log(f"npm not found: fetching {name}@{version} from {registry}")
    try:
        with urllib.request.urlopen(f"{registry}/{name}/{version}", timeout=60) as r:
            dist = json.load(r)["dist"]
        with urllib.request.urlopen(dist["tarball"], timeout=300) as r:
            data = r.read()
    except Exception as err:
        raise SystemExit(f"could not fetch {name}@{version} ({err}); install npm, or put "
                         f"{tgz.name} into {tgz.parent}") from None
    algo, _, want = dist.get("integrity", "").partition("-")
    if algo != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != want:
        raise SystemExit(f"{name}@{version}: the download does not match the registry's "
                         "sha512 integrity value")
    tmp = tgz.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(tgz)
    return tgz


def _extract(tgz: Path, members: dict[str, str], dest: Path) -> list[str]:
    """Copy tar members whose path (under ``package/``) matches a regex key to
    ``dest / <value-prefix> / <path relative to the regex's group 1>``."""
    written = []
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
            for pattern, prefix in members.items():
                match = re.fullmatch(pattern, rel)
                if match:
                    target = dest / prefix / match.group(1)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    written.append(str(target.relative_to(dest)))
                    break
    return written


def vendor_static(out: Path, vendor_dir: Path) -> None:
    """Fill ``out/_static`` with the widget renderer, require.js and MathJax, and their
    licences."""
    static = out / STATIC
    if static.exists():
        shutil.rmtree(static)
    static.mkdir(parents=True)
    hm = fetch_npm_package(*HTML_MANAGER, vendor_dir)
    files = _extract(hm, {r"dist/((?!.*\.map$)(?!embed\.js$)(?!libembed).*)": "html-manager",
                          r"(package\.json)": "html-manager"}, static)
    if "html-manager/embed-amd.js" not in [f.replace(os.sep, "/") for f in files]:
        raise SystemExit(f"{hm.name} has no dist/embed-amd.js")
    rq = fetch_npm_package(*REQUIREJS, vendor_dir)
    _extract(rq, {r"(require\.js)": "", r"(README\.md)": "requirejs"}, static)
    mj = fetch_npm_package(*MATHJAX, vendor_dir)
    keep = (r"MathJax\.js", r"LICENSE", r"config/TeX-AMS_CHTML-full\.js", r"config/Safe\.js",
            r"extensions/(?!a11y/mathmaps/).*", r"jax/input/TeX/.*", r"jax/element/.*",
            r"jax/output/CommonHTML/.*", r"fonts/HTML-CSS/TeX/woff/.*", r"localization/en/.*")
    _extract(mj, {f"({k})": "mathjax" for k in keep}, static)
    rv = fetch_npm_package(*REVEAL, vendor_dir)
    # the white theme only: the others @import web fonts from Google's servers
    files = _extract(rv, {r"(dist/reveal\.(?:js|css))": "reveal.js",
                          r"(dist/theme/white\.css)": "reveal.js",
                          r"(dist/theme/fonts/source-sans-pro/.*)": "reveal.js",
                          r"(plugin/notes/notes\.js)": "reveal.js", r"(LICENSE)": "reveal.js"},
                     static)
    if "reveal.js/dist/reveal.js" not in [f.replace(os.sep, "/") for f in files]:
        raise SystemExit(f"{rv.name} has no dist/reveal.js")
    jq = fetch_npm_package(*JQUERY, vendor_dir)
    _extract(jq, {r"dist/(jquery\.min\.js)": "", r"(LICENSE\.txt)": "jquery"}, static)
    (static / "LICENSES.md").write_text(
        "# Third-party files in this folder\n\n"
        "Fetched from the npm registry by scripts/build_site.py at build time.\n\n"
        f"- `html-manager/`: {HTML_MANAGER[0]}@{HTML_MANAGER[1]}, BSD-3-Clause, "
        "Copyright (c) Project Jupyter Contributors "
        "(bundles @jupyter-widgets/base and controls, BSD-3-Clause; Font Awesome Free: "
        "icons CC BY 4.0, fonts SIL OFL 1.1, code MIT; see "
        "`html-manager/*.LICENSE.txt` where present).\n"
        f"- `require.js`: {REQUIREJS[0]}@{REQUIREJS[1]}, MIT, Copyright jQuery Foundation "
        "and other contributors.\n"
        f"- `mathjax/`: {MATHJAX[0]}@{MATHJAX[1]}, Apache-2.0 (`mathjax/LICENSE`).\n"
        f"- `reveal.js/`: {REVEAL[0]}@{REVEAL[1]}, MIT, Copyright Hakim El Hattab "
        "(`reveal.js/LICENSE`; its theme fonts: SIL OFL 1.1, see `reveal.js/dist/theme/fonts/`).\n"
        f"- `jquery.min.js`: {JQUERY[0]}@{JQUERY[1]}, MIT, Copyright OpenJS Foundation and "
        "other contributors (`jquery/LICENSE.txt`).\n")


# --------------------------------------------------------------------------- notebooks


#: the site's languages: English pages ``<name>.html``, the others ``<name>.<lang>.html``
LANGS = ("en", "ja")
LANG_LABEL = {"en": "English", "ja": "日本語"}


def find_notebooks(only: list[str] | None, lang: str = "en") -> list[Path]:
    folder = NOTEBOOKS if lang == "en" else NOTEBOOKS / lang
    nbs = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        nbs = [p for p in nbs if any(p.name.startswith(o) or p.stem == o for o in only)]
        if not nbs and lang == "en":
            raise SystemExit(f"no notebook in {folder} matches {only}")
    return nbs


def page_name(stem: str, lang: str, kind: str = "html") -> str:
    """``00_welcome.html`` (English), ``00_welcome.ja.html``, ``00_welcome.ja.slides.html``."""
    return stem + ("" if lang == "en" else f".{lang}") + f".{kind}"


SWITCH_STYLE = ("position:fixed;top:6px;right:10px;z-index:10000;font:13px sans-serif;"
                "background:#fff;border:1px solid #ccc;border-radius:4px;padding:2px 8px")


def language_switch(lang: str, targets: dict[str, str]) -> str:
    """The switch shown on a page in ``lang``: links to ``targets`` (language -> page)."""
    links = " | ".join(
        f"<b>{LANG_LABEL[lg]}</b>" if lg == lang else
        f'<a href="{html.escape(href)}" hreflang="{lg}" lang="{lg}">{LANG_LABEL[lg]}</a>'
        for lg, href in targets.items())
    return f'<div class="codi-lang-switch" style="{SWITCH_STYLE}">{links}</div>'


def add_switch(body: str, switch: str | None, lang: str | None = None) -> str:
    """``body`` with ``switch`` inserted right after its ``<body ...>`` tag, and its
    ``<html lang>`` set to ``lang`` if given."""
    if lang:
        body = re.sub(r'<html lang="[^"]*"', f'<html lang="{lang}"', body, count=1)
    if not switch:
        return body
    m = re.search(r"<body\b[^>]*>", body)
    if not m:
        raise SystemExit("the exported page has no <body> tag for the language switch")
    return body[:m.end()] + "\n" + switch + body[m.end():]


def execute(path: Path, timeout: int, fast: bool):
    """Run ``path`` top to bottom in a fresh kernel (cwd notebooks/), storing widget
    state. Returns (notebook, seconds, error message or None)."""
    import nbformat
    from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    ep = ExecutePreprocessor(timeout=timeout, kernel_name="python3", store_widget_state=True)
    t0 = time.perf_counter()
    err = None
    try:
        ep.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    except CellExecutionError as e:
        err = str(e).strip().splitlines()[-1][:500] if str(e).strip() else "cell failed"
    except Exception as e:  # kernel died, timeout...
        err = f"{type(e).__name__}: {e}"[:500]
    return nb, time.perf_counter() - t0, err


def _exporter():
    from nbconvert import HTMLExporter

    return _vendored_scripts(HTMLExporter(template_name="lab"))


def _vendored_scripts(exp):
    """Point an nbconvert exporter's widget, require and MathJax scripts at the vendored
    copies. Mermaid is not vendored: the template imports it only for pages with a
    diagram, and export() refuses such pages rather than let them reach for a CDN."""
    exp.widget_renderer_url = WIDGET_JS
    exp.require_js_url = REQUIRE_JS
    exp.mathjax_url = MATHJAX_JS
    exp.html_manager_semver_range = HTML_MANAGER[1]
    exp.mermaid_js_url = f"{STATIC}/mermaid-not-vendored.mjs"
    exp.mermaid_layout_elk_js_url = ""
    return exp


EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""",
                      re.I)


def external_loads(page: str) -> list[str]:
    """URLs that a page's script/link/img/iframe tags would fetch from the network."""
    return EXTERNAL.findall(page)


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


# The widget bundle finds its fonts next to the URL of its AMD modules
# ("@jupyter-widgets/..."), which require.js would resolve against the page's folder;
# map those module names onto _static/html-manager so the fonts load from there.
REQUIRE_CONFIG = ("<script>require.config({paths: {"
                  f"'@jupyter-widgets/html-manager/dist': '{STATIC}/html-manager', "
                  f"'@jupyter-widgets': '{STATIC}/html-manager'"
                  "}});</script>")


def export(nb, dest: Path, exporter, switch: str | None = None, lang: str | None = None) -> None:
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title_of(nb) or dest.stem}})
    body = add_switch(body, switch, lang)
    tag = f'<script src="{REQUIRE_JS}"></script>'
    if "application/vnd.jupyter.widget-state+json" in body:
        if tag not in body:
            raise SystemExit(f"{dest.name}: the template's require.js tag was not found")
        body = body.replace(tag, tag + "\n" + REQUIRE_CONFIG, 1)
    if '<pre class="mermaid">' in body:
        raise SystemExit(f"{dest.name} has a Mermaid diagram, which this offline site cannot "
                         "render (Mermaid is not vendored): use an image instead")
    bad = external_loads(body) + re.findall(r"https?://(?:cdn\.jsdelivr|unpkg\.com|cdnjs)[^\"'\s]*", body)
    if bad:
        raise SystemExit(f"{dest.name} would load from the network: {bad[:5]}")
    dest.write_text(body, encoding="utf-8")


# nbconvert's reveal template imports Mermaid (from a CDN by default) on every page, with
# or without a diagram; this template leaves that block out (no Mermaid is vendored).
SLIDES_TEMPLATE = ("{%- extends 'index.html.j2' -%}\n"
                   "{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}\n")


def _slides_exporter():
    import jinja2
    from nbconvert import SlidesExporter

    exp = SlidesExporter(extra_loaders=[jinja2.DictLoader({"codi_slides.html.j2": SLIDES_TEMPLATE})],
                         template_file="codi_slides.html.j2")
    exp.reveal_url_prefix = REVEAL_PREFIX
    exp.reveal_theme = "white"  # the one theme vendored (see vendor_static)
    exp.reveal_scroll = True  # a slide longer than the screen scrolls
    exp.jquery_url = JQUERY_JS
    return _vendored_scripts(exp)


def _split_at_headings(source: str) -> list[str]:
    """A markdown cell's text cut before every ``#``/``##``/``###`` heading line (outside
    code fences), so that a heading in the middle of a cell still opens a slide."""
    parts, cur, fence = [], [], False
    for line in source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and re.match(r"#{1,3} ", line) and any(x.strip() for x in cur):
            parts.append("\n".join(cur).strip("\n"))
            cur = []
        cur.append(line)
    parts.append("\n".join(cur).strip("\n"))
    return [p for p in parts if p.strip()]


def slide_types(nb):
    """A copy of ``nb`` cut into slides: markdown cells are split before every heading,
    a part that starts with a ``#`` or ``##`` heading opens a slide, one with ``###`` a
    sub-slide (reached with the down arrow); every other cell continues the current one.
    Slide metadata already in a cell wins. The code cells are the notebook's own."""
    import copy

    import nbformat
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not cell.metadata.get("slideshow"):
            for k, part in enumerate(_split_at_headings(cell.source)):
                piece = nbformat.v4.new_markdown_cell(part)
                if k == 0:
                    piece.metadata = copy.deepcopy(cell.metadata)
                    piece.attachments = cell.get("attachments", {})
                cells.append(piece)
        else:
            cells.append(cell)
    nb.cells = cells
    for cell in nb.cells:
        if cell.metadata.get("slideshow", {}).get("slide_type"):
            continue
        kind = "-"
        if cell.cell_type == "markdown":
            first = cell.source.lstrip().split("\n", 1)[0]
            if re.match(r"#{1,2} ", first):
                kind = "slide"
            elif first.startswith("### "):
                kind = "subslide"
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def export_slides(nb, dest: Path, exporter, switch: str | None = None, lang: str | None = None) -> None:
    nb = slide_types(nb)
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": title_of(nb) or dest.stem}})
    body = add_switch(body, switch, lang)
    tag = f'<script src="{REQUIRE_JS}"></script>'
    if "application/vnd.jupyter.widget-state+json" in body:
        if tag not in body:
            raise SystemExit(f"{dest.name}: the template's require.js tag was not found")
        body = body.replace(tag, tag + "\n" + REQUIRE_CONFIG, 1)
    bad = external_loads(body) + re.findall(r"https?://(?:cdn\.jsdelivr|unpkg\.com|cdnjs)[^\"'\s]*", body)
    if bad:
        raise SystemExit(f"{dest.name} would load from the network: {bad[:5]}")
    dest.write_text(body, encoding="utf-8")


def build_docs(out: Path) -> list[tuple[str, str]]:
    """The host's kit as printable pages in ``out/docs`` (scripts/build_docs.py); returns
    (file name, title) pairs."""
    sys.path.insert(0, str(REPO / "scripts"))
    import build_docs as bd
    return bd.build(out / "docs")


#: the index page's words, per language
INDEX_TEXT = {
    "en": {"title": "CoDi, hands on: the course",
           "h1": "CoDi, hands on: conditional diffusion distillation on a laptop",
           "intro": "The course notebooks, executed on {when} in {mode}, with their outputs and "
                    "working widgets. Everything on these pages works offline; the live parts of a "
                    "widget (buttons, uploads) need JupyterLab (<code>make course</code>).",
           "fast": "fast mode (CODI_FAST=1, small sizes)", "normal": "lesson size",
           "cols": ("notebook", "lesson", "", "run time", "status"), "slides": "slides",
           "failed": "failed", "hosts": "For hosts",
           "built": "Built by <code>scripts/build_site.py</code> in {seconds:.0f} s. Third-party "
                    "JavaScript: see"},
    "ja": {"title": "CoDi ハンズオン：コース",
           "h1": "CoDi ハンズオン：ノートPCで学ぶ条件付き拡散蒸留",
           "intro": "コースのノートブックを {when} に{mode}で実行したもので、出力と動作するウィジェット"
                    "つきです。これらのページはすべてオフラインで動きます。ウィジェットのライブの部分"
                    "（ボタン、アップロード）には JupyterLab（<code>make course-ja</code>）が必要です。",
           "fast": "高速モード（CODI_FAST=1、小さな規模）", "normal": "レッスン本来の規模",
           "cols": ("ノートブック", "レッスン", "", "実行時間", "状態"), "slides": "スライド",
           "failed": "失敗", "hosts": "講師・主催者向け",
           "built": "<code>scripts/build_site.py</code> で {seconds:.0f} 秒かけて生成。第三者の "
                    "JavaScript については次を参照："},
}


def write_index(out: Path, entries: list[dict], fast: bool, seconds: float,
                docs: list[tuple[str, str]] | None = None, lang: str = "en",
                langs: tuple[str, ...] = ("en",)) -> None:
    """``index.html`` (English) or ``index.<lang>.html``: the lessons of ``entries``, the
    host's kit ``docs`` in that language, and a language switch when ``langs`` has two."""
    t = INDEX_TEXT.get(lang, INDEX_TEXT["en"])
    if docs:  # the kit in this page's language
        docs = [(n, d) for n, d in docs if (n.startswith(f"{lang}/") if lang != "en" else "/" not in n)]
    rows = []
    for e in entries:
        status = ("ok" if not e["error"] else
                  f"<span style='color:#b00'>{t['failed']}: {html.escape(e['error'])}</span>")
        slides = (f"<a href='{html.escape(e['slides'])}'>{t['slides']}</a>" if e.get("slides") else "")
        rows.append(f"<tr><td><a href='{html.escape(e['html'])}'>{html.escape(e['name'])}</a></td>"
                    f"<td>{html.escape(e['title'])}</td><td>{slides}</td><td>{e['seconds']:.0f} s</td>"
                    f"<td>{status}</td></tr>")
    kit = ""
    if docs:
        kit = (f"<h2>{t['hosts']}</h2><ul>" + "".join(
            f"<li><a href='docs/{html.escape(name)}'>{html.escape(title)}</a></li>"
            for name, title in docs) + "</ul>")
    mode = t["fast"] if fast else t["normal"]
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    switch = (language_switch(lang, {lg: page_name("index", lg) for lg in langs})
              if len(langs) > 1 else "")
    head = "".join(f"<th>{c}</th>" for c in t["cols"])
    (out / page_name("index", lang)).write_text(f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{t['title']}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto;padding:0 1em}}
td,th{{padding:4px 10px;text-align:left;border-bottom:1px solid #ddd}}</style></head>
<body>{switch}<h1>{t['h1']}</h1>
<p>{t['intro'].format(when=html.escape(when), mode=mode)}</p>
<table><tr>{head}</tr>
{''.join(rows)}</table>
{kit}
<p>{t['built'].format(seconds=seconds)} <a href="{STATIC}/LICENSES.md">{STATIC}/LICENSES.md</a>.</p></body></html>
""", encoding="utf-8")


def set_kernel_env(fast: bool) -> None:
    """The environment the notebook kernels inherit: ``CODI_FAST`` on or off, and the
    allocator settings that make CPU steps faster (``codi_lib/training/env.py``)."""
    if fast:
        os.environ["CODI_FAST"] = "1"
    else:
        os.environ.pop("CODI_FAST", None)
    sys.path.insert(0, str(REPO))
    from codi_lib.training.env import ALLOCATOR_ENV
    for key, value in ALLOCATOR_ENV.items():
        os.environ.setdefault(key, value)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true",
                    help="run the notebooks with CODI_FAST=1 (default: $CODI_FAST, else lesson size)")
    ap.add_argument("--normal", action="store_true", help="force lesson size (CODI_FAST unset)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: site/)")
    ap.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. --only 00 07")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    ap.add_argument("--vendor-dir", type=Path, default=DEFAULT_VENDOR,
                    help="where npm tarballs are cached (default build/site-vendor)")
    ap.add_argument("--keep-going", action="store_true",
                    help="export the other notebooks when one fails (exit status still 1)")
    ap.add_argument("--no-slides", action="store_true", help="skip the reveal.js slides")
    ap.add_argument("--no-docs", action="store_true", help="skip the host's kit (docs/)")
    ap.add_argument("--lang", choices=[*LANGS, "all"], default="all",
                    help="the language(s) to build (default all: English and notebooks/ja)")
    args = ap.parse_args(argv)
    fast = (args.fast or os.environ.get("CODI_FAST") == "1") and not args.normal
    set_kernel_env(fast)
    t0 = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    langs = LANGS if args.lang == "all" else (args.lang,)
    if args.lang == "all" and not find_notebooks(args.only, "ja"):
        langs = ("en",)  # nothing translated among the notebooks asked for
    jobs = [(lang, path) for lang in langs for path in find_notebooks(args.only, lang)]
    twins = {lang: {p.stem for p in find_notebooks(args.only, lang)} for lang in langs}

    def switch_for(stem: str, lang: str, kind: str) -> str | None:
        """The page's language switch: its twin in each language, else that index."""
        if len(langs) < 2:
            return None
        return language_switch(lang, {lg: page_name(stem, lg, kind) if stem in twins[lg]
                                      else page_name("index", lg) for lg in langs})
    vendor_static(out, args.vendor_dir)
    exporter = _exporter()
    slides_exporter = None if args.no_slides else _slides_exporter()
    docs = None if args.no_docs else build_docs(out)
    log(f"{len(jobs)} notebook(s) ({', '.join(langs)}), {'fast mode' if fast else 'lesson size'} -> {out}")
    entries = {lang: [] for lang in langs}
    failed = False
    for lang, path in jobs:
        log(f"executing {path.relative_to(NOTEBOOKS)} ...")
        nb, secs, err = execute(path, args.timeout, fast)
        name = page_name(path.stem, lang)
        if err:
            failed = True
            log(f"{path.name} FAILED after {secs:.0f} s: {err}")
        else:
            log(f"{path.name} ran in {secs:.1f} s")
        if err and not args.keep_going:
            entries[lang].append({"name": path.name, "title": title_of(nb), "html": name,
                                  "seconds": secs, "error": err})
            for lg in langs:
                write_index(out, entries[lg], fast, time.perf_counter() - t0, docs, lg, langs)
            export(nb, out / name, exporter, switch_for(path.stem, lang, "html"), lang)
            return 1
        export(nb, out / name, exporter, switch_for(path.stem, lang, "html"), lang)
        slides = None
        if slides_exporter is not None:
            slides = page_name(path.stem, lang, "slides.html")
            export_slides(nb, out / slides, slides_exporter, switch_for(path.stem, lang, "slides.html"),
                          lang)
        entries[lang].append({"name": path.name, "title": title_of(nb), "html": name,
                              "slides": slides, "seconds": secs, "error": err})
    for lang in langs:
        write_index(out, entries[lang], fast, time.perf_counter() - t0, docs, lang, langs)
    log(f"done in {time.perf_counter() - t0:.0f} s: open {out / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
