"""Build the course's emoji data set, ``data/emoji32.npz``, from Noto Color Emoji.

Every colour bitmap of the font's CBDT table (136x128 PNG each) becomes one 32x32 RGB
image: composited onto white, padded to a centred square with white, then downsampled
with Pillow's BOX filter (an exact area average: every source pixel counts by its
overlap with the target pixel, so there is no ringing around the emoji's outline).

Each glyph is named by its font glyph name and by the emoji codepoint sequence that
reaches it (through the cmap for single codepoints, through GSUB ligatures for
skin-tone, ZWJ, flag and keycap sequences). Glyphs are grouped by *base emoji*
(``base_key``) so that all skin-tone and gender variants of one emoji share a key;
the train/test split is made per key from its sha256, so it is deterministic and no
emoji leaks between splits. Output arrays are sorted by glyph name and written with
fixed zip timestamps, so a rebuild is byte-for-byte identical.

Usage (from the repository root)::

    python scripts/build_emoji_dataset.py \
        --font /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf --out data/emoji32.npz

Introduced in notebooks/02_teacher.ipynb; no paper equation.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import PIL
from fontTools.ttLib import TTFont
from PIL import Image

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
RESAMPLING = "BOX"
TEST_FRACTION = 0.15

ZWJ, VS16 = 0x200D, 0xFE0F
SKIN_TONES = set(range(0x1F3FB, 0x1F400))
GENDER_SIGNS = {0x2640, 0x2642}
HAIR = set(range(0x1F9B0, 0x1F9B4))
DROPPED = SKIN_TONES | GENDER_SIGNS | HAIR | {ZWJ, VS16}
ADULT, CHILD = 0x1F9D1, 0x1F9D2  # person, child: the gender-neutral tokens
GENDER_NEUTRAL = {0x1F468: ADULT, 0x1F469: ADULT, 0x1F466: CHILD, 0x1F467: CHILD}
FAMILY = 0x1F46A
# Gendered emoji that Unicode encodes as separate codepoints, mapped onto the neutral
# form (a sequence of tokens), so that e.g. Santa, Mrs Claus and Mx Claus share a key.
ALIASES = {
    0x1F474: (0x1F9D3,), 0x1F475: (0x1F9D3,),  # old man / old woman -> older person
    0x1F934: (0x1FAC5,), 0x1F478: (0x1FAC5,),  # prince / princess -> person with crown
    0x1F930: (0x1FAC4,), 0x1FAC3: (0x1FAC4,),  # pregnant woman / man -> pregnant person
    0x1F57A: (0x1F483,),  # man dancing -> woman dancing
    0x1F385: (ADULT, 0x1F384), 0x1F936: (ADULT, 0x1F384),  # Santa, Mrs Claus -> Mx Claus
    0x1F46B: (ADULT, 0x1F91D, ADULT), 0x1F46C: (ADULT, 0x1F91D, ADULT),  # holding hands
    0x1F46D: (ADULT, 0x1F91D, ADULT),
    0x1F48F: (ADULT, 0x1F48B, 0x2764, ADULT),  # kiss
    0x1F491: (ADULT, 0x2764, ADULT),  # couple with heart
    FAMILY: (FAMILY,),
}
# Codepoints that never start an RGI ZWJ sequence (components, objects, children).
# Only used to pick a readable label among the mirrored orderings the font also maps.
TRAILING = GENDER_SIGNS | HAIR | {
    0x27A1, 0x2194, 0x2195, 0x2620, 0x2695, 0x2696, 0x2708, 0x26A7, 0x2744, 0x2B1B,
    0x1F308, 0x1F32B, 0x1F33E, 0x1F373, 0x1F37C, 0x1F384, 0x1F393, 0x1F3A4, 0x1F3A8,
    0x1F3EB, 0x1F3ED, 0x1F466, 0x1F467, 0x1F4A5, 0x1F4A8, 0x1F4AB, 0x1F4BB, 0x1F4BC,
    0x1F525, 0x1F527, 0x1F52C, 0x1F5E8, 0x1F680, 0x1F692, 0x1F7E9, 0x1F7EB, 0x1F9AF,
    0x1F9BA, 0x1F9BC, 0x1F9BD, 0x1F9D2, 0x1FA79, 0x1FAF2,
}


def is_private_use(cp: int) -> bool:
    return 0xE000 <= cp <= 0xF8FF or cp >= 0xF0000


def hex_seq(seq) -> str:
    return "_".join(f"{cp:X}" for cp in seq)


def glyph_sequences(font: TTFont) -> dict[str, list[tuple[int, ...]]]:
    """All codepoint sequences that reach each glyph, via the cmap and GSUB ligatures."""
    cmap = font.getBestCmap()
    glyph_to_cp = {g: cp for cp, g in cmap.items()}
    seqs: dict[str, list[tuple[int, ...]]] = {}
    for cp, glyph in sorted(cmap.items()):
        seqs.setdefault(glyph, []).append((cp,))
    if "GSUB" in font:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for sub in lookup.SubTable:
                sub = getattr(sub, "ExtSubTable", sub)  # unwrap extension lookups
                for first, ligatures in getattr(sub, "ligatures", {}).items():
                    for lig in ligatures:
                        parts = [first, *lig.Component]
                        if all(p in glyph_to_cp for p in parts):
                            seqs.setdefault(lig.LigGlyph, []).append(
                                tuple(glyph_to_cp[p] for p in parts))
    return seqs


def label_sequence(paths: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Pick one readable codepoint sequence for a glyph.

    The font maps every ZWJ sequence in both reading orders (for right-to-left text)
    and a few flags are shared by several regions: prefer a well-formed sequence (skin
    tones right after their base), then one that does not start with a component,
    then the smallest in hex order. The label never changes the grouping.
    """
    def badness(p):  # mirrored toned sequences put the tone after the ZWJ
        misplaced_tones = sum(cp in SKIN_TONES and (i == 0 or p[i - 1] == ZWJ)
                              for i, cp in enumerate(p))
        return misplaced_tones, p[0] in TRAILING, hex_seq(p)

    return min(paths, key=badness)


def base_key(seq: tuple[int, ...]) -> str:
    """The base-emoji key: drops skin tones, gender signs, hair, ZWJ and VS16, maps
    man/woman/person and boy/girl/child to one token each, gendered codepoints to
    their neutral form and all families to one key."""
    tokens: list[int] = []
    for cp in seq:
        if cp not in DROPPED:
            cp = GENDER_NEUTRAL.get(cp, cp)
            tokens.extend(ALIASES.get(cp, (cp,)))
    if not tokens:  # a bare component: skin-tone swatch, gender sign or hair piece
        return "component"
    if len(tokens) > 1 and set(tokens) <= {ADULT, CHILD, FAMILY} and CHILD in tokens:
        return f"{FAMILY:X}"
    if ZWJ in seq:  # ZWJ sequences are mapped in both orders: make the key mirror-free
        tokens = min(tokens, tokens[::-1], key=hex_seq)
    return hex_seq(tokens)


def is_test_key(key: str) -> bool:
    """Deterministic split: the first 8 bytes of sha256(key) as a fraction of 2**64."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return h / 2**64 < TEST_FRACTION


def render(png: bytes, size: int) -> np.ndarray:
    """One CBDT PNG -> (size, size, 3) uint8: white background, centred square, BOX."""
    img = Image.open(io.BytesIO(png)).convert("RGBA")
    side = max(img.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    offset = ((side - img.width) // 2, (side - img.height) // 2)
    canvas.alpha_composite(img, offset)
    small = canvas.convert("RGB").resize((size, size), Image.Resampling[RESAMPLING])
    return np.asarray(small, dtype=np.uint8)


def build(font_path: str | Path, size: int = 32) -> dict[str, np.ndarray]:
    """Render every bitmap glyph of the font; returns the arrays saved in the npz."""
    font_path = Path(font_path)
    font = TTFont(font_path)
    strike = max(font["CBDT"].strikeData, key=len)  # Noto has a single strike
    # Keep real emoji sequences; the font's private-use codepoints are aliases.
    seqs = {g: [p for p in paths if not any(map(is_private_use, p))]
            for g, paths in glyph_sequences(font).items()}
    names = sorted(g for g in strike if seqs.get(g))
    labels = [label_sequence(seqs[g]) for g in names]
    # A key is the smallest over every sequence reaching the glyph (flags shared by
    # several regions), so the choice of label never changes the grouping.
    bases = [min(base_key(p) for p in seqs[g]) for g in names]
    is_test = np.array([is_test_key(b) for b in bases], dtype=bool)
    images = np.stack([render(strike[g].imageData, size) for g in names])
    meta = {
        "source": "Noto Color Emoji (Google), CBDT colour bitmaps",
        "font_file": font_path.name,
        "font_sha256": hashlib.sha256(font_path.read_bytes()).hexdigest(),
        "font_version": font["name"].getDebugName(5),
        "font_revision": round(font["head"].fontRevision, 4),
        "size": size,
        "resampling": f"PIL.Image.Resampling.{RESAMPLING}",
        "pillow_version": PIL.__version__,
        "background": "white",
        "split_rule": f"sha256(base_key)[:8] / 2**64 < {TEST_FRACTION} -> test",
        "counts": {
            "images": len(names), "train": int((~is_test).sum()),
            "test": int(is_test.sum()), "base_keys": len(set(bases)),
            "test_base_keys": len({b for b, t in zip(bases, is_test) if t}),
        },
    }
    return {
        "images": images,
        "names": np.array(names),
        "sequences": np.array([hex_seq(s) for s in labels]),
        "base": np.array(bases),
        "split": np.where(is_test, "test", "train"),
        "metadata": np.array(json.dumps(meta, sort_keys=True)),
    }


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` (same format, ``np.load`` reads it), but with fixed
    zip timestamps so the same arrays always give the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--font", default=DEFAULT_FONT, help="NotoColorEmoji.ttf")
    parser.add_argument("--out", default="data/emoji32.npz", help="output .npz")
    parser.add_argument("--size", type=int, default=32, help="output side in pixels")
    args = parser.parse_args(argv)
    arrays = build(args.font, args.size)
    save_npz(args.out, arrays)
    counts = json.loads(str(arrays["metadata"]))["counts"]
    print(f"wrote {args.out}: {counts['images']} images "
          f"({counts['train']} train / {counts['test']} test), "
          f"{counts['base_keys']} base keys ({counts['test_base_keys']} test), "
          f"{Path(args.out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
