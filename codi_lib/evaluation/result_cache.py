"""Measured results kept on disk, so that a long measurement can stop and resume.

The benchmark of one task on a CPU takes hours, most of it Inception features of the
generated images. :class:`TensorCache` keeps each finished piece (a benchmark row's
per-image metrics and features, the Inception features of a fixed real set) as one
safetensors file, named by a fingerprint of everything the result depends on: the
inputs' bytes, the model files' bytes, the settings. A later run with the same
fingerprint reads the file instead of measuring again; anything changed gives another
fingerprint, so a stale result is never read. Files are written atomically (temporary
file, then rename); a damaged file is measured again, never trusted; a read-only
checkout still works, only without the cache.

Hand-written because no library we use caches tensors by content this way (joblib's
``Memory`` pickles, and the project never pickles). Introduced in
notebooks/06_measuring.ipynb (the benchmark); no paper equation.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch


def digest(*parts) -> str:
    """A hex fingerprint of ``parts``: tensors by their bytes (with dtype and shape),
    paths of files or folders by the bytes of their files, anything else by its JSON."""
    h = hashlib.sha1()
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
        elif isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                h.update(f.name.encode())
                h.update(f.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


class TensorCache:
    """Tensors plus a JSON record per (name, fingerprint), in ``root`` (safetensors).

    ``root`` None gives a cache that keeps nothing (every ``load`` misses)."""

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else None

    def path(self, name: str, fingerprint: str) -> Path | None:
        if self.root is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.root / f"{safe}-{fingerprint[:16]}.safetensors"

    def load(self, name: str, fingerprint: str):
        """``(tensors, record)`` stored under this name and fingerprint, or None."""
        from safetensors import safe_open
        path = self.path(name, fingerprint)
        if path is None or not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("fingerprint", fingerprint) != fingerprint:
                    return None
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            return tensors, json.loads(meta.get("record", "{}"))
        except Exception:  # damaged or foreign file: measure again
            return None

    def save(self, name: str, fingerprint: str, tensors: dict, record: dict | None = None) -> None:
        """Store atomically; silently does nothing where ``root`` cannot be written."""
        from safetensors.torch import save_file
        path = self.path(name, fingerprint)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                      metadata={"fingerprint": fingerprint,
                                "record": json.dumps(record or {}, default=float)})
            tmp.replace(path)
        except OSError:
            pass
