#!/usr/bin/env python
"""Build the Japanese notebooks ``notebooks/ja/*.ipynb`` from the English ones and the
translations in ``notebooks/i18n/ja/*.json``.

    .venv/bin/python scripts/build_ja.py            # build every translated notebook
    .venv/bin/python scripts/build_ja.py --check    # exit 1 if notebooks/ja is out of date
    .venv/bin/python scripts/build_ja.py --scaffold 03_distillation   # start a translation
    .venv/bin/python scripts/build_ja.py --status   # which notebooks are done, stale cells
    .venv/bin/python scripts/build_ja.py --fill 03_distillation ja.md   # import translations

One source: the English notebook is the only place code lives. A Japanese notebook is the
English notebook with every markdown cell replaced by its translation; every other cell
(code, its outputs and metadata, the cell ids, the notebook metadata) is copied as it is,
never retyped, so ``tests/test_i18n.py`` can check the code is identical.

Translation files
-----------------
``notebooks/i18n/ja/<notebook stem>.json``, one per notebook::

    {"notebook": "00_welcome.ipynb", "language": "ja",
     "cells": {"<cell id>": {"en_sha256": "<16 hex>", "en": [lines], "ja": [lines]}}}

keyed by the nbformat 4.5 cell id of the English markdown cell. ``en`` is the English
text the translation was made from and ``en_sha256`` the first 16 hex digits of its
SHA-256 (UTF-8): when the English cell changes, the hash no longer matches and the
translation is *stale*. ``en`` is kept so that a translator sees what changed
(``--status --diff``). ``ja: null`` (as written by ``--scaffold``) means "not translated".

``--fill STEM FILE`` imports translations written as plain Markdown: ``FILE`` holds
blocks that each start with a line ``%%% <cell id>``; each block becomes that cell's
``ja`` and records the *current* English text and hash (so fill a cell only after
reading its current English: that is what marks a stale translation as up to date).

Stored outputs are copied too, with one exception: a printed message of the library that
speaks the course's language (the exercise checkers) would otherwise show in English in
the Japanese notebook, and nbval, which runs the kernel in ``notebooks/ja``, would see
the Japanese message differ from the stored one. The translation file's optional
``"outputs"`` object maps the exact English text of such a stream output to its Japanese
text (what the library prints with ``CODI_LANG=ja``); :func:`localize_outputs` applies it.

A notebook is built only when its translation file exists, and only when *every* markdown
cell has a translation (a notebook is fully Japanese or not built). Stale translations
are still used, and listed as warnings: the English text is being revised, and a slightly
old translation beats none. Translations whose cell id is gone from the English notebook
are listed as orphans. ``--strict`` makes stale and orphaned entries errors.

The built notebooks are committed (so a fresh clone opens them with ``make course-ja``
and ``make test`` runs them under nbval); ``--check`` and ``tests/test_i18n.py`` fail
when they are not what this script would write. No paper equation: course tooling.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
LANG = "ja"
I18N = NOTEBOOKS / "i18n" / LANG
OUT = NOTEBOOKS / LANG


def _rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (for messages)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def source_text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def source_hash(text: str) -> str:
    """The first 16 hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def to_lines(text: str) -> list[str]:
    """nbformat's list-of-lines form of a cell source."""
    return text.splitlines(keepends=True)


def english_notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def translation_path(stem: str) -> Path:
    return I18N / f"{stem}.json"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(obj: dict) -> str:
    """The JSON form nbformat writes (indent 1, sorted keys, UTF-8 as is)."""
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def report(stem: str) -> dict:
    """For the English notebook ``stem`` and its translation file: the markdown cell ids
    that have no translation (``missing``), whose English changed since the translation
    (``stale``), and translated ids that are no longer in the notebook (``orphans``)."""
    nb = read_json(NOTEBOOKS / f"{stem}.ipynb")
    translation = read_json(translation_path(stem))
    tr = translation.get("cells", {})
    missing, stale = [], []
    ids = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        cid = cell.get("id")
        if cid is None:
            raise SystemExit(f"{stem}: a markdown cell has no id (nbformat >= 4.5 needed)")
        ids.add(cid)
        entry = tr.get(cid)
        if not entry or not entry.get("ja"):
            missing.append(cid)
        elif entry.get("en_sha256") != source_hash(source_text(cell)):
            stale.append(cid)
    orphans = sorted(set(tr) - ids)
    texts = {"".join(o.get("text", [])) for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream"}
    output_orphans = sorted(k for k in translation.get("outputs", {}) if k not in texts)
    return {"missing": missing, "stale": stale, "orphans": orphans,
            "output_orphans": output_orphans}


def localize_outputs(cell: dict, outputs: dict) -> dict:
    """``cell`` with every stream output whose whole text is a key of ``outputs``
    replaced by its translation (the rest of the cell untouched)."""
    if cell.get("cell_type") != "code" or not outputs:
        return cell
    cell = json.loads(json.dumps(cell))
    for out in cell.get("outputs", []):
        text = "".join(out.get("text", [])) if out.get("output_type") == "stream" else None
        if text in outputs:
            out["text"] = to_lines(outputs[text])
    return cell


def build_notebook(stem: str) -> str:
    """The text of ``notebooks/ja/<stem>.ipynb``. Raises ValueError if a markdown cell
    has no translation."""
    nb = read_json(NOTEBOOKS / f"{stem}.ipynb")
    translation = read_json(translation_path(stem))
    tr = translation.get("cells", {})
    missing = [c.get("id") for c in nb["cells"] if c["cell_type"] == "markdown"
               and not (tr.get(c.get("id")) or {}).get("ja")]
    if missing:
        raise ValueError(f"{stem}: no translation for markdown cell(s) {', '.join(map(str, missing))}")
    nb["cells"] = [localize_outputs(c, translation.get("outputs", {})) for c in nb["cells"]]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            ja = tr[cell["id"]]["ja"]
            cell["source"] = ja if isinstance(ja, list) else to_lines(ja)
    nb["metadata"]["codi_i18n"] = {
        "language": LANG,
        "built_from": f"../{stem}.ipynb",
        "translations": f"../i18n/{LANG}/{stem}.json",
        "note": "Built by scripts/build_ja.py: edit the translation file, not this notebook.",
    }
    return dumps(nb)


def translated_stems() -> list[str]:
    return [p.stem for p in english_notebooks() if translation_path(p.stem).is_file()]


def scaffold(stem: str) -> Path:
    """Create or extend the translation file of ``stem``: an entry (``ja: null``) for
    every markdown cell not yet in it, with the current English text and hash."""
    path = translation_path(stem)
    data = read_json(path) if path.is_file() else {"notebook": f"{stem}.ipynb",
                                                   "language": LANG, "cells": {}}
    nb = read_json(NOTEBOOKS / f"{stem}.ipynb")
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and cell["id"] not in data["cells"]:
            text = source_text(cell)
            data["cells"][cell["id"]] = {"en_sha256": source_hash(text), "en": to_lines(text),
                                         "ja": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def fill(stem: str, blocks_file: Path) -> list[str]:
    """Set the ``ja`` of every ``%%% <cell id>`` block of ``blocks_file`` (see the module
    docstring), with the current English text and hash. Returns the filled ids."""
    path = translation_path(stem)
    if not path.is_file():
        scaffold(stem)
    data = read_json(path)
    english = {c["id"]: source_text(c) for c in read_json(NOTEBOOKS / f"{stem}.ipynb")["cells"]
               if c["cell_type"] == "markdown"}
    blocks, cid = {}, None
    for line in blocks_file.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("%%% "):
            cid = line[4:].strip()
            if cid not in english:
                raise SystemExit(f"{blocks_file}: {cid} is not a markdown cell of {stem}")
            blocks[cid] = []
        elif cid is not None:
            blocks[cid].append(line)
    for cid, lines in blocks.items():
        text = "".join(lines).strip("\n")
        data["cells"][cid] = {"en_sha256": source_hash(english[cid]),
                              "en": to_lines(english[cid]), "ja": to_lines(text)}
    order = list(english)
    data["cells"] = dict(sorted(data["cells"].items(),
                                key=lambda kv: order.index(kv[0]) if kv[0] in order else 10**6))
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return list(blocks)


def stale_diff(stem: str, cid: str) -> str:
    nb = read_json(NOTEBOOKS / f"{stem}.ipynb")
    cell = next(c for c in nb["cells"] if c.get("id") == cid)
    old = read_json(translation_path(stem))["cells"][cid].get("en") or []
    return "".join(difflib.unified_diff(old, to_lines(source_text(cell)),
                                        f"{cid} (translated from)", f"{cid} (English now)"))


def warnings_for(stem: str, rep: dict) -> list[str]:
    out = []
    if rep.get("output_orphans"):
        out.append(f"{stem}: translated output(s) no longer stored in the English notebook: "
                   + "; ".join(t.strip()[:60] for t in rep["output_orphans"]))
    if rep["stale"]:
        out.append(f"{stem}: stale translation (the English changed): {', '.join(rep['stale'])}")
    if rep["orphans"]:
        out.append(f"{stem}: translation of cell(s) no longer in the notebook: "
                   f"{', '.join(rep['orphans'])}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a built notebook is missing or out of date")
    ap.add_argument("--strict", action="store_true", help="stale or orphaned translations are errors")
    ap.add_argument("--status", action="store_true", help="list every notebook's translation state")
    ap.add_argument("--diff", action="store_true", help="with --status: show the English changes")
    ap.add_argument("--scaffold", metavar="STEM", help="create/extend the translation file of STEM")
    ap.add_argument("--fill", nargs=2, metavar=("STEM", "FILE"),
                    help="import the '%%%%%% <cell id>' Markdown blocks of FILE into STEM's translations")
    args = ap.parse_args(argv)

    if args.fill:
        filled = fill(args.fill[0], Path(args.fill[1]))
        print(f"[build_ja] {args.fill[0]}: filled {len(filled)} cell(s)")
        return 0

    if args.scaffold:
        print(f"[build_ja] {_rel(scaffold(args.scaffold))}")
        return 0
    if args.status:
        for p in english_notebooks():
            if not translation_path(p.stem).is_file():
                print(f"{p.stem}: not translated (no {_rel(translation_path(p.stem))})")
                continue
            rep = report(p.stem)
            state = "missing cells: " + ", ".join(rep["missing"]) if rep["missing"] else "done"
            print(f"{p.stem}: {state}")
            for w in warnings_for(p.stem, rep):
                print("  warning:", w)
            if args.diff:
                for cid in rep["stale"]:
                    print(stale_diff(p.stem, cid))
        return 0

    errors, warns = [], []
    stems = translated_stems()
    for stem in stems:
        rep = report(stem)
        warns += warnings_for(stem, rep)
        if rep["missing"]:
            errors.append(f"{stem}: no translation for markdown cell(s) {', '.join(rep['missing'])}"
                          f" (not built)")
            continue
        text = build_notebook(stem)
        dest = OUT / f"{stem}.ipynb"
        current = dest.read_text(encoding="utf-8") if dest.is_file() else None
        if args.check:
            if current != text:
                errors.append(f"{_rel(dest)} is out of date: run scripts/build_ja.py")
        elif current != text:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
            print(f"[build_ja] wrote {_rel(dest)}")
    for extra in sorted(OUT.glob("*.ipynb")) if OUT.is_dir() else []:
        if extra.stem not in stems:
            errors.append(f"{_rel(extra)} has no translation file (delete it)")
    for w in warns:
        print(f"[build_ja] warning: {w}", file=sys.stderr)
    if args.strict:
        errors += warns
    for e in errors:
        print(f"[build_ja] error: {e}", file=sys.stderr)
    print(f"[build_ja] translated: {', '.join(stems) or 'none'}; "
          f"{len(warns)} warning(s), {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
