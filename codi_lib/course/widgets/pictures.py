"""Pictures and captions of the side-by-side widget: nearest-neighbour enlargement, PNG
bytes, the before/after curtain, and the HTML captions and race panel. Pure numpy/PIL.
Introduced in ``notebooks/07_side_by_side.ipynb``; no paper equation.
"""
from __future__ import annotations

import html
import io

import numpy as np
import torch
from PIL import Image

from ...training.data import to_uint8_images

#: Display enlargement: 32 px -> 160 px, nearest neighbour.
DEFAULT_SCALE = 5
#: Curtain positions in percent: 0 = all teacher, 100 = all student.
CURTAIN_POSITIONS = (0, 25, 50, 75, 100)
TEACHER_COLOUR, STUDENT_COLOUR = "#d62728", "#1f77b4"


def upscale(images_u8: np.ndarray, scale: int = DEFAULT_SCALE) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 images (..., H, W, 3) by ``scale``: every
    pixel becomes a ``scale`` x ``scale`` block. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return np.repeat(np.repeat(images_u8, scale, axis=-3), scale, axis=-2)


def png_bytes(image_u8: np.ndarray) -> bytes:
    """One uint8 (H, W, 3) image encoded as PNG bytes. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_u8), "RGB").save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 (H, W, 3) array (the inverse of :func:`png_bytes`).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def display_images(images: torch.Tensor, scale: int = DEFAULT_SCALE) -> np.ndarray:
    """Float images (B, 3, H, W) in [-1, 1] -> enlarged uint8 (B, H*scale, W*scale, 3),
    with :func:`codi_lib.training.data.to_uint8_images`. Introduced in
    notebooks/07_side_by_side.ipynb; no paper equation."""
    return upscale(to_uint8_images(images), scale)


DIVIDER_COLOUR = (255, 214, 0)


def curtain_image(teacher_u8: np.ndarray, student_u8: np.ndarray, position: float,
                  divider: int = 2) -> np.ndarray:
    """Before/after split of two equal-size uint8 (H, W, 3) images: the left
    ``position`` percent of the columns come from the student, the rest from the
    teacher, with a ``divider``-pixel yellow line (black-edged) at the cut. At 0 the
    result equals the teacher image exactly and at 100 the student image (no line).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    if teacher_u8.shape != student_u8.shape:
        raise ValueError(f"images differ in shape: {teacher_u8.shape} vs {student_u8.shape}")
    if not 0 <= position <= 100:
        raise ValueError(f"position must be in [0, 100], got {position}")
    w = teacher_u8.shape[1]
    cut = int(round(w * position / 100))
    out = teacher_u8.copy()
    out[:, :cut] = student_u8[:, :cut]
    if 0 < cut < w and divider > 0:
        lo, hi = max(0, cut - divider // 2), min(w, cut + (divider + 1) // 2)
        out[:, lo:hi] = DIVIDER_COLOUR
        for edge in (lo - 1, hi):
            if 0 <= edge < w:
                out[:, edge] = 0
    return out


def curtain_frames(teacher_u8: np.ndarray, student_u8: np.ndarray,
                   positions=CURTAIN_POSITIONS) -> list[bytes]:
    """PNG bytes of :func:`curtain_image` at every position in ``positions`` (percent).
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    return [png_bytes(curtain_image(teacher_u8, student_u8, p)) for p in positions]


def _fmt_ms(ms: float | None) -> str:
    if ms is None or ms != ms:
        return "–"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _fmt_seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def caption_html(title: str, nfe: int | None = None, ms_per_image: float | None = None,
                 lpips: float | None = None, psnr: float | None = None,
                 note: str = "") -> str:
    """The caption under one panel, as HTML: ``title``, then ``NFE n · latency x ms/img``
    and ``LPIPS a · PSNR b dB`` (measured against the ground truth; "–" where a number
    does not apply). Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    nfe_s = "–" if nfe is None else str(nfe)
    lp = "–" if lpips is None else f"{lpips:.3f}"
    ps = "–" if psnr is None else ("∞" if psnr == float("inf") else f"{psnr:.1f} dB")
    extra = f"<br><span style='color:#666'>{html.escape(note)}</span>" if note else ""
    return ("<div class='codi-caption' style='font-size:12px;line-height:1.35'>"
            f"<b>{html.escape(title)}</b><br>NFE {nfe_s} · latency {_fmt_ms(ms_per_image)}/img"
            f"<br>LPIPS {lp} · PSNR {ps}{extra}</div>")


def race_html(teacher_label: str, teacher_seconds: float, student_label: str,
              student_seconds: float, n_images: int, slowest_seconds: float | None = None,
              replay_seconds: float = 3.0) -> str:
    """The "race" panel: two SVG bars, as long as the two runs' measured wall times
    (scaled to the slowest run, ``slowest_seconds``), that grow in proportion to real
    time (the slowest run takes ``replay_seconds`` to finish, restarting whenever the
    panel is shown again), with the times and the speed-up in words.
    Introduced in notebooks/07_side_by_side.ipynb; no paper equation."""
    slowest = max(slowest_seconds or 0.0, teacher_seconds, student_seconds, 1e-9)
    width, bar_h, label_w = 360, 18, 0
    factor = replay_seconds / slowest
    speedup = teacher_seconds / max(student_seconds, 1e-12)
    rows = []
    for i, (label, sec, colour) in enumerate(((teacher_label, teacher_seconds, TEACHER_COLOUR),
                                              (student_label, student_seconds, STUDENT_COLOUR))):
        y = 4 + i * (bar_h + 22)
        w = max(1.0, width * sec / slowest)
        dur = max(0.05, sec * factor)
        rows.append(
            f"<text x='0' y='{y + 11}' font-size='12' fill='#222'>{html.escape(label)}: "
            f"{_fmt_seconds(sec)}</text>"
            f"<rect x='{label_w}' y='{y + 15}' width='{width}' height='{bar_h - 6}' fill='#eee'/>"
            f"<rect x='{label_w}' y='{y + 15}' width='{w:.1f}' height='{bar_h - 6}' fill='{colour}'>"
            f"<animate attributeName='width' from='0' to='{w:.1f}' dur='{dur:.2f}s' "
            f"fill='freeze'/></rect>")
    svg_h = 4 + 2 * (bar_h + 22)
    if speedup >= 1:
        verdict = f"the student is <b>{speedup:.1f}x faster</b>"
    else:
        verdict = f"the student is <b>{1 / speedup:.1f}x slower</b>"
    return ("<div class='codi-race' style='font-size:12px'>"
            f"<svg width='{width + 10}' height='{svg_h}' xmlns='http://www.w3.org/2000/svg'>"
            + "".join(rows) + "</svg>"
            f"<div>Wall time for the same {n_images} image(s), same noise: {verdict}. "
            f"The bars grow in proportion to the measured times (the slowest run fills in "
            f"{replay_seconds:g} s).</div></div>")
