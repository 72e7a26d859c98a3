#!/usr/bin/env python
"""Render the host's kit (``docs/*.md``) to printable, self-contained HTML pages.

    .venv/bin/python scripts/build_docs.py                # -> build/docs/*.html, build/docs/ja/*.html
    .venv/bin/python scripts/build_docs.py --out /tmp/kit

One page per Markdown file (agenda, instructor notes, glossary, cheat sheet), with the
styles inlined and print rules (A4, tables that do not split rows, the cheat sheet in
landscape), links between the files pointing at their HTML twins, and nothing loaded
from the network: open a page in a browser and print it (to paper or PDF). The maths is
written in Unicode, so no JavaScript is needed. ``scripts/build_site.py`` calls this
for ``site/docs/``.

Markdown is rendered with mistune, the renderer nbconvert uses (so no extra package:
JupyterLab already brings it). No paper equation: this is course tooling.

The Japanese kit (``docs/ja/*.md``: glossary, cheat sheet, agenda, instructor notes) is
built the same way into ``<out>/ja/``, with ``lang="ja"`` and a system font stack with Japanese fallbacks
(no web fonts: the pages load nothing from the network). Links from a Japanese page to
an English one (``../glossary.md``) point at the English HTML page.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
#: translated kits: docs/<lang>/*.md -> <out>/<lang>/*.html
LANGUAGES = ["ja"]
DEFAULT_OUT = REPO / "build" / "docs"
#: pages printed in landscape (wide tables)
LANDSCAPE = {"cheatsheet"}

CSS = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 11pt;
       line-height: 1.4; max-width: 60em; margin: 1.5em auto; padding: 0 1em; color: #111; }
h1 { font-size: 1.6em; margin-top: 0; } h2 { font-size: 1.25em; margin-top: 1.4em; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; width: 100%; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.92em; }
pre { background: #f6f6f6; padding: 0.5em 0.8em; overflow-x: auto; }
blockquote { border-left: 3px solid #ccc; margin-left: 0; padding-left: 1em; color: #333; }
a { color: #0645ad; }
.footer { margin-top: 2em; font-size: 0.85em; color: #666; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; margin: 0; font-size: 9.5pt; }
  a { color: inherit; text-decoration: none; }
  tr, pre, blockquote { page-break-inside: avoid; }
  h1, h2, h3 { page-break-after: avoid; }
  .footer { display: none; }
}
"""
#: Japanese pages: system fonts only (Noto CJK on Linux, Hiragino on macOS, Yu Gothic /
#: Meiryo on Windows), a little more line height, and no mid-word breaking rules needed
JA_CSS = """
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Hiragino Kaku Gothic ProN",
       "Yu Gothic", "YuGothic", "Meiryo", "DejaVu Sans", sans-serif; line-height: 1.6; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, "Noto Sans Mono CJK JP", monospace; }
"""
FOOTER = {
    "en": "CoDi, hands on: built from {src} by scripts/build_docs.py. Print with the browser (Ctrl-P / Cmd-P).",
    "ja": "CoDi ハンズオン：{src} から scripts/build_docs.py で生成。ブラウザで印刷できます（Ctrl-P / Cmd-P）。",
}
LANDSCAPE_CSS = """
@page { size: A4 landscape; margin: 10mm; }
body { max-width: 80em; }
@media print { body { font-size: 8pt; } }
"""


def _markdown():
    import mistune
    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def title_of(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _fix_links(body: str) -> str:
    """Links to sibling .md files point at their .html pages, and so do links from a
    translated page to an English kit page (``../glossary.md``); other links into the
    repository (``../README.md``, ``../notebooks/...``) stay as they are."""
    body = re.sub(r'href="([A-Za-z0-9_\-]+)\.md(#[^"]*)?"',
                  lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', body)
    return re.sub(r'href="\.\./([A-Za-z0-9_\-]+)\.md(#[^"]*)?"',
                  lambda m: (f'href="../{m.group(1)}.html{m.group(2) or ""}"'
                             if (DOCS / f"{m.group(1)}.md").is_file() else m.group(0)), body)


def render(md_path: Path, lang: str = "en") -> tuple[str, str]:
    """(title, full HTML page) of one Markdown file, in language ``lang``."""
    text = md_path.read_text(encoding="utf-8")
    title = title_of(text, md_path.stem)
    body = _fix_links(_markdown()(text))
    css = CSS + (JA_CSS if lang == "ja" else "") + (LANDSCAPE_CSS if md_path.stem in LANDSCAPE else "")
    src = html.escape(str(md_path.relative_to(REPO)) if md_path.is_relative_to(REPO) else md_path.name)
    page = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{css}</style></head>\n<body>\n{body}\n"
            f'<p class="footer">{FOOTER.get(lang, FOOTER["en"]).format(src=src)}</p>\n</body></html>\n')
    return title, page


ORDER = ["agenda", "instructor_notes", "glossary", "cheatsheet"]


def _sorted(paths) -> list[Path]:
    return sorted(paths, key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.name))


def build(out: Path, sources: list[Path] | None = None) -> list[tuple[str, str]]:
    """Write one HTML page per Markdown file into ``out``; returns (file name, title),
    file names relative to ``out``. Without ``sources``: every ``docs/*.md``, then every
    translated page ``docs/<lang>/*.md`` into ``out/<lang>/``."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(md, "en", "") for md in (sources or _sorted(DOCS.glob("*.md")))]
    if sources is None:
        for lang in LANGUAGES:
            jobs += [(md, lang, f"{lang}/") for md in _sorted((DOCS / lang).glob("*.md"))]
    written = []
    for md, lang, prefix in jobs:
        title, page = render(md, lang)
        name = prefix + md.stem + ".html"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(page, encoding="utf-8")
        written.append((name, title))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/docs)")
    args = ap.parse_args(argv)
    for name, title in build(args.out.resolve()):
        print(f"[build_docs] {args.out / name}: {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
