"""The Japanese course (``notebooks/ja``, ``docs/ja``): one source, translations as data.

A Japanese notebook is built by ``scripts/build_ja.py`` from the English notebook and
``notebooks/i18n/ja/<notebook>.json`` (translations keyed by cell id, each with the hash of
the English text it was translated from). These tests check:

* the built notebooks are committed and are exactly what the build writes now;
* their code cells (source, outputs, metadata, ids) are identical to the English ones
  (stored library messages excepted: the translation file's ``outputs``),
  and the cells are the same cells in the same order;
* every markdown cell of a translated notebook has a translation (**fails**);
* translations whose English source changed since (hash mismatch) or whose cell is gone
  **fail** (``STALE_IS_ERROR``; the build's ``--strict`` does the same on the command
  line): the two languages are in step, and an English edit must bring its translation
  with it. Set it to False only while a large English revision is under way;
* the Japanese glossary covers every term of ``docs/glossary.md``, and the translations
  use its vocabulary, not ad-hoc variants.

The notebooks themselves run under nbval with the English ones (``make test`` collects
``notebooks/`` recursively). No paper equation: this is course tooling.
"""
from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import build_ja  # noqa: E402

#: stale (English changed since) or orphaned translations fail; False only during a large
#: English revision, when a slightly old translation is better than none
STALE_IS_ERROR = True

TRANSLATED = build_ja.translated_stems()
BUILT = sorted(p.stem for p in build_ja.OUT.glob("*.ipynb")) if build_ja.OUT.is_dir() else []
JA_DOCS = REPO / "docs" / "ja"

#: wording the Japanese glossary does not use, and the term it uses instead
VARIANTS = {
    "ディフュージョンモデル": "拡散モデル",
    "拡散型モデル": "拡散モデル",
    "ディスティレーション": "蒸留",
    "知識蒸留": "蒸留",
    "整合性損失": "一貫性損失",
    "無矛盾性": "一貫性",
    "先生モデル": "教師モデル",
    "学生モデル": "生徒モデル",
    "ノイズスケジューリング": "ノイズスケジュール",
    "確率流": "確率フロー",
    "関数評価数": "関数評価回数",
    "指数平滑移動平均": "指数移動平均",
    "ゼロコンボリューション": "ゼロ畳み込み",
    "スーパーレゾリューション": "超解像",
    "高解像度化": "超解像",
    "インペイント処理": "インペインティング",
    "画像修復": "インペインティング",
}


def test_something_is_translated():
    assert "00_welcome" in TRANSLATED


def test_built_notebooks_are_exactly_the_translated_ones():
    assert BUILT == TRANSLATED, (
        "notebooks/ja must hold one built notebook per translation file "
        "(run scripts/build_ja.py; delete a built notebook whose translation file is gone)")


@pytest.mark.parametrize("stem", TRANSLATED)
def test_every_markdown_cell_has_a_translation(stem):
    rep = build_ja.report(stem)
    assert not rep["missing"], (
        f"{stem}: markdown cell(s) {rep['missing']} have no Japanese translation "
        f"(scripts/build_ja.py --scaffold {stem}, then translate them)")


@pytest.mark.parametrize("stem", TRANSLATED)
def test_stale_translations_are_listed(stem):
    """Stale (English changed) and orphaned translations: a listed warning (see the
    module docstring), a failure once ``STALE_IS_ERROR`` is set."""
    found = build_ja.warnings_for(stem, build_ja.report(stem))
    for w in found:
        warnings.warn(w + " (see: scripts/build_ja.py --status --diff)", UserWarning)
    if STALE_IS_ERROR:
        assert not found, found


@pytest.mark.parametrize("stem", TRANSLATED)
def test_built_notebook_is_up_to_date(stem):
    path = build_ja.OUT / f"{stem}.ipynb"
    assert path.is_file(), f"{path} is missing: run scripts/build_ja.py"
    assert path.read_text(encoding="utf-8") == build_ja.build_notebook(stem), (
        f"{path.relative_to(REPO)} is not what scripts/build_ja.py writes now "
        "(the English notebook or the translation changed): run scripts/build_ja.py")


@pytest.mark.parametrize("stem", BUILT)
def test_code_cells_are_identical_to_the_english_ones(stem):
    en = json.loads((build_ja.NOTEBOOKS / f"{stem}.ipynb").read_text(encoding="utf-8"))
    ja = json.loads((build_ja.OUT / f"{stem}.ipynb").read_text(encoding="utf-8"))
    assert [(c["cell_type"], c.get("id")) for c in ja["cells"]] == \
           [(c["cell_type"], c.get("id")) for c in en["cells"]], "not the same cells in the same order"
    outputs = build_ja.read_json(build_ja.translation_path(stem)).get("outputs", {})
    for e, j in zip(en["cells"], ja["cells"]):
        if e["cell_type"] != "markdown":  # stored library messages may be in Japanese
            assert j == build_ja.localize_outputs(e, outputs), \
                f"{stem}: cell {e.get('id')} differs from the English notebook"
        else:
            assert j["source"] != e["source"] or not "".join(e["source"]).strip(), \
                f"{stem}: markdown cell {e.get('id')} is still the English text"
    meta = dict(ja["metadata"])
    assert meta.pop("codi_i18n")["language"] == "ja"
    assert meta == en["metadata"]


def test_the_notebooks_find_the_repository_from_the_subfolder():
    """Code cells are shared, so nothing in them may depend on the notebook's folder: the
    library finds data/, runs/ and the students from its own location."""
    from codi_lib.training import paths
    assert paths.REPO_DIR == REPO
    for stem in BUILT:
        nb = json.loads((build_ja.OUT / f"{stem}.ipynb").read_text(encoding="utf-8"))
        for c in nb["cells"]:
            src = "".join(c["source"])
            assert "../" not in src or c["cell_type"] == "markdown", (stem, c.get("id"))


# ----------------------------------------------------------------------------- vocabulary

def _english_terms() -> list[str]:
    """The bold headwords of docs/glossary.md's "Terms" and the symbols of its table."""
    text = (REPO / "docs" / "glossary.md").read_text(encoding="utf-8")
    terms = re.findall(r"^\*\*(.+?)\.\*\*", text, re.M)
    symbols = re.findall(r"^\| (.+?) \| ", text.split("## Terms")[0], re.M)
    return terms + [s for s in symbols if s not in ("symbol", "---")]


def test_japanese_glossary_covers_every_english_term():
    ja = (JA_DOCS / "glossary.md").read_text(encoding="utf-8")
    missing = [t for t in _english_terms() if t not in ja]
    assert not missing, f"docs/ja/glossary.md lacks the English term(s): {missing}"
    for required in ["拡散モデル", "蒸留", "条件付き一貫性損失", "教師モデル", "生徒モデル",
                     "ノイズスケジュール", "確率フローODE", "関数評価回数", "指数移動平均",
                     "ゼロ畳み込み", "超解像", "インペインティング"]:
        assert required in ja, required


def _japanese_texts():
    for p in sorted(build_ja.I18N.glob("*.json")):
        cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
        for cid, entry in cells.items():
            yield f"{p.name}:{cid}", "".join(entry.get("ja") or [])
    for p in sorted(JA_DOCS.glob("*.md")):
        yield str(p.relative_to(REPO)), p.read_text(encoding="utf-8")


def test_translations_use_the_glossary_vocabulary():
    bad = [(where, wrong, right) for where, text in _japanese_texts()
           for wrong, right in VARIANTS.items() if wrong in text]
    assert not bad, "use the glossary's terms (docs/ja/glossary.md): " + "; ".join(
        f"{w}: {wrong} -> {right}" for w, wrong, right in bad)


# ----------------------------------------------------------------------------- the kit

JA_KIT = ["glossary.md", "cheatsheet.md", "agenda.md", "instructor_notes.md"]


@pytest.mark.parametrize("name", JA_KIT)
def test_japanese_kit_page_exists_and_is_linked_from_the_readme(name):
    assert (JA_DOCS / name).is_file()
    assert f"docs/ja/{name}" in (REPO / "README.md").read_text(encoding="utf-8")


def _headings(text: str) -> list[tuple[int, list[str]]]:
    """(level, two-digit notebook numbers) of each Markdown heading outside code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        m = None if fenced else re.match(r"(#+) (.*)", line)
        if m:
            out.append((len(m.group(1)), re.findall(r"\b\d\d\b", m.group(2))))
    return out


@pytest.mark.parametrize("name", [n for n in JA_KIT if n != "glossary.md"])
def test_japanese_kit_page_has_the_english_sections(name):
    """Each Japanese kit page keeps the English page's outline: the same headings at the
    same levels, in order, each naming the same notebook numbers, so a host can use either
    language with the same plan. A section added to the English page fails here until
    it is translated. (The glossary is checked term by term instead, and its Japanese page
    adds a section of its own: the vocabulary list.)"""
    en = _headings((REPO / "docs" / name).read_text(encoding="utf-8"))
    ja = _headings((JA_DOCS / name).read_text(encoding="utf-8"))
    assert [lvl for lvl, _ in ja] == [lvl for lvl, _ in en], f"docs/ja/{name}: heading levels differ"
    for (_, a), (_, b) in zip(en, ja):
        assert set(a) <= set(b), f"docs/ja/{name}: a heading lacks notebook number(s) {a}"


def _code_lines(text: str) -> list[str]:
    """The indented code lines of a Markdown page, as Markdown decides: an indented line
    opens a code block only after a blank line (else it continues a list item or a
    paragraph), and the block goes on while lines stay indented or blank."""
    out, prev_blank, in_code = [], True, False
    for line in text.splitlines():
        indented = line.startswith("    ") and line.strip()
        in_code = bool(indented and (in_code or prev_blank)) or (in_code and not line.strip())
        if indented and in_code:
            out.append(line)
        prev_blank = not line.strip()
    return out


def test_code_lines_follow_markdown():
    page = "text\n\n    make test\n\n    make course\n- a bullet\n     wrapped, not code\n"
    assert _code_lines(page) == ["    make test", "    make course"]


def test_japanese_agenda_keeps_the_timings_and_commands():
    """Numbers and commands are not translated: the timing rows and every command line
    of the English agenda, cheat sheet and instructor notes are in the Japanese ones."""
    for name in ["agenda.md", "cheatsheet.md", "instructor_notes.md"]:
        en = (REPO / "docs" / name).read_text(encoding="utf-8")
        ja = (JA_DOCS / name).read_text(encoding="utf-8")
        for line in _code_lines(en):
            assert line in ja, f"docs/ja/{name} lacks the command line {line.strip()!r}"
        for line in en.splitlines():
            m = re.match(r"\| (\d\d) \|", line)
            if m:
                row = next((ln for ln in ja.splitlines() if ln.startswith(f"| {m.group(1)} |")), "")
                assert re.findall(r"\| (\d+ s) \|", row) == re.findall(r"\| (\d+ s) \|", line), row
            m = re.match(r"\| \((C\d)\) \| (.*?) \|", line)
            if m:
                assert f"| ({m.group(1)}) |" in ja, m.group(1)
        for cmd in re.findall(r"`((?:make|\.venv/bin/python|CODI_\w+=)[^`]*)`", en):
            assert cmd in ja, f"docs/ja/{name} lacks the command `{cmd}`"


def test_build_docs_writes_japanese_pages_without_network_fonts(tmp_path):
    import subprocess
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "build_docs.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for name in JA_KIT:
        page = (tmp_path / "ja" / name.replace(".md", ".html")).read_text(encoding="utf-8")
        assert '<html lang="ja">' in page
        assert '"Noto Sans CJK JP"' in page and "sans-serif" in page
        assert "@import" not in page and "url(" not in page and "@font-face" not in page
        assert not re.findall(r"""\b(?:src|href)=["']https?:""", page)
        assert not re.search(r'href="[^":]+\.md"', page), f"{name}: a link still points at .md"
    assert "size: A4 landscape" in (tmp_path / "ja" / "cheatsheet.html").read_text(encoding="utf-8")


def test_make_course_ja_opens_the_japanese_notebook_00():
    """`make course-ja` (= `make course CODI_LANG=ja`) keeps the course target's options
    (port, extra arguments, --allow-root only as root) and opens notebooks/ja/00."""
    import os
    import subprocess
    res = subprocess.run(["make", "-n", "course-ja", "CODI_PORT=8899", "CODI_LAB_ARGS=--no-browser"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if "jupyter lab" in ln)
    assert line.rstrip().endswith("notebooks/ja/00_welcome.ipynb"), line
    assert "--port=8899" in line and "--no-browser" in line
    assert ("--allow-root" in line) == (os.geteuid() == 0)
    assert "--ServerApp.root_dir=notebooks" in line and "--LabApp.user_settings_dir=" in line
    assert "translation-extension" in res.stdout and "ja_JP" in res.stdout
    en = subprocess.run(["make", "-n", "course"], cwd=REPO, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in en.stdout.splitlines() if "jupyter lab" in ln)
    assert line.rstrip().endswith("notebooks/00_welcome.ipynb") and "user_settings_dir" not in line


def test_the_setup_installs_the_japanese_language_pack():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    notebooks_extra = re.search(r"^notebooks = \[(.*)\]$", text, re.M).group(1)
    assert '"jupyterlab-language-pack-ja-JP' in notebooks_extra


# ----------------------------------------------------------------------------- the setting

def test_language_follows_the_notebook_folder_and_codi_lang(tmp_path, monkeypatch):
    """One setting for the library's messages: the Japanese notebooks' kernels run in
    notebooks/ja (JupyterLab and nbval start a kernel in the notebook's folder)."""
    from codi_lib.training.paths import language
    monkeypatch.delenv("CODI_LANG", raising=False)
    monkeypatch.chdir(REPO / "notebooks" / "ja")
    assert language() == "ja"
    monkeypatch.chdir(REPO / "notebooks")
    assert language() == "en"
    monkeypatch.setenv("CODI_LANG", "ja")
    assert language() == "ja"
    monkeypatch.setenv("CODI_LANG", "fr")  # not a course language: the folder decides
    assert language() == "en"


@pytest.mark.slow
def test_make_course_ja_serves_the_japanese_notebook_00_with_a_japanese_interface(tmp_path):
    """The README's command `make course-ja`, run for real: the lab page (HTTP 200),
    notebooks/ja/00_welcome.ipynb under the served folder notebooks/, the interface
    language set to ja_JP and the Japanese language pack installed."""
    import os
    import shutil
    import urllib.request

    from lab_launch import running_make, setup_is_current
    if shutil.which("make") is None or not setup_is_current():
        pytest.skip(".venv is not set up for this checkout (run `make setup`; `make test` does)")
    with running_make("course-ja", tmp_path) as (url, lines):
        command = next(ln for ln in lines if "jupyter lab" in ln)
        assert "notebooks/ja/00_welcome.ipynb" in command
        assert ("--allow-root" in command) == (os.geteuid() == 0)
        base, token = url.split("/lab?token=")
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{base}/api/contents/ja/00_welcome.ipynb?content=0&token={token}",
                                    timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{base}/lab/api/settings/@jupyterlab/translation-extension:plugin"
                                    f"?token={token}", timeout=30) as r:
            assert json.loads(r.read())["settings"]["locale"] == "ja_JP"
        with urllib.request.urlopen(f"{base}/lab/api/translations?token={token}", timeout=30) as r:
            assert "ja_JP" in json.loads(r.read())["data"], "the Japanese language pack is not installed"


def test_a_changed_english_cell_is_stale_a_new_one_missing(tmp_path, monkeypatch):
    """The English changes under the translation: an edited cell is listed as stale (its
    old translation still builds), a new cell has no translation (the build refuses), a
    deleted cell's translation is an orphan; ``--strict`` turns the warnings into errors."""
    nbs, i18n = tmp_path / "notebooks", tmp_path / "notebooks" / "i18n" / "ja"
    i18n.mkdir(parents=True)
    nb = json.loads((build_ja.NOTEBOOKS / "00_welcome.ipynb").read_text(encoding="utf-8"))
    tr = build_ja.translation_path("00_welcome").read_text(encoding="utf-8")
    (i18n / "00_welcome.json").write_text(tr, encoding="utf-8")
    md = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    md[1]["source"][-1] += " (edited)"
    (nbs / "00_welcome.ipynb").write_text(build_ja.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(build_ja, "NOTEBOOKS", nbs)
    monkeypatch.setattr(build_ja, "I18N", i18n)
    monkeypatch.setattr(build_ja, "OUT", nbs / "ja")
    rep = build_ja.report("00_welcome")
    assert rep == {"missing": [], "stale": [md[1]["id"]], "orphans": [], "output_orphans": []}
    assert build_ja.main([]) == 0 and (nbs / "ja" / "00_welcome.ipynb").is_file()
    assert build_ja.main(["--strict"]) == 1
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "new-cell", "metadata": {}, "source": ["New."]})
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != md[-1]["id"]]
    (nbs / "00_welcome.ipynb").write_text(build_ja.dumps(nb), encoding="utf-8")
    rep = build_ja.report("00_welcome")
    assert rep["missing"] == ["new-cell"] and rep["orphans"] == [md[-1]["id"]]
    with pytest.raises(ValueError, match="new-cell"):
        build_ja.build_notebook("00_welcome")
    assert build_ja.main([]) == 1


# ----------------------------------------------------------------------------- the site

def test_site_pages_of_both_languages_link_each_other(tmp_path):
    """scripts/build_site.py builds notebooks/ja next to the English pages
    (``<name>.ja.html``, ``index.ja.html``, sharing ``_static/``), each with a language switch."""
    import build_site
    assert [p.stem for p in build_site.find_notebooks(None, "ja")] == BUILT
    assert build_site.page_name("00_welcome", "en") == "00_welcome.html"
    assert build_site.page_name("00_welcome", "ja", "slides.html") == "00_welcome.ja.slides.html"
    switch = build_site.language_switch("ja", {"en": "00_welcome.html", "ja": "00_welcome.ja.html"})
    page = build_site.add_switch('<html lang="en"><head></head><body class="jp">x</body></html>', switch, "ja")
    assert page.startswith('<html lang="ja">')
    assert page.index('<body class="jp">') < page.index('href="00_welcome.html"') < page.index("x</body>")
    assert "<b>日本語</b>" in page and 'href="00_welcome.ja.html"' not in page
    docs = [("glossary.html", "Glossary"), ("ja/glossary.html", "用語集")]
    entries = [{"name": "00_welcome.ipynb", "title": "00", "html": "00_welcome.ja.html",
                "slides": None, "seconds": 1.0, "error": None}]
    build_site.write_index(tmp_path, entries, True, 1.0, docs, "ja", ("en", "ja"))
    index = (tmp_path / "index.ja.html").read_text(encoding="utf-8")
    assert '<html lang="ja">' in index and 'href="index.html"' in index
    assert "docs/ja/glossary.html" in index and "docs/glossary.html" not in index
