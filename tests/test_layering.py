"""The layers of codi_lib import only downwards: method <- training <- evaluation <-
course / apps (course and apps never import each other). Read from the source with
``ast`` (lazy imports inside functions count too), so a violation fails here before it
becomes an import cycle."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "codi_lib"
RANK = {"method": 0, "training": 1, "evaluation": 2, "course": 3, "apps": 3}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "codi_lib" and parts[1] in RANK else None


def _module(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root.parent).with_suffix("").parts)


def _imports(path: Path, root: Path):
    """(line, absolute module) of every import in ``path`` (relative ones resolved)."""
    package = _module(path, root).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module]
            for n in names:
                yield node.lineno, n
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name


def _violations(path: Path, root: Path = PKG) -> list[str]:
    own = _layer(_module(path, root))
    if own is None:
        return []
    bad = []
    for line, target in _imports(path, root):
        other = _layer(target)
        if other is None or other == own:
            continue
        if RANK[other] >= RANK[own]:
            bad.append(f"{path.relative_to(root.parent)}:{line}: {own} imports {target} ({other})")
    return bad


def test_every_module_sits_in_a_layer():
    loose = [p.name for p in PKG.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the layers: {loose}"


def test_lower_layers_never_import_higher_ones():
    bad = [v for p in sorted(PKG.rglob("*.py")) for v in _violations(p)]
    assert bad == [], "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path):
    probe = tmp_path / "codi_lib" / "method" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import torch\n\n\ndef f():\n    from ..course import setup\n")
    assert _violations(probe, tmp_path / "codi_lib") == [
        "codi_lib/method/probe.py:5: method imports codi_lib.course (course)"]


def test_method_has_no_file_io():
    """The method layer is pure torch: no paths, files or environment variables."""
    for p in (PKG / "method").glob("*.py"):
        tree = ast.parse(p.read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not mods & {"os", "pathlib", "json", "shutil", "tempfile"}, p.name


def test_every_codi_lib_import_resolves():
    """Lazy imports inside functions run only when called; check every one of them now."""
    import importlib
    missing = []
    for p in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            package = _module(p, PKG).split(".")[:-1]
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("codi_lib"):
                continue
            mod = importlib.import_module(target)
            for a in node.names:
                if not hasattr(mod, a.name):
                    try:
                        importlib.import_module(f"{target}.{a.name}")
                    except ImportError:
                        missing.append(f"{p.relative_to(PKG.parent)}:{node.lineno}: {target}.{a.name}")
    assert missing == [], "\n".join(missing)
