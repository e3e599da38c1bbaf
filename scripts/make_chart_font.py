"""Make `core/fonts/DubanSans-Regular.otf`, the font the summary chart draws Chinese with.

A subset of Noto Sans CJK SC (SIL Open Font License 1.1): Latin, punctuation, symbols, CJK
punctuation, full-width forms and the whole CJK Unified Ideographs block, so any name in the
bureau draws without tofu. Renamed, as the OFL asks of modified fonts. Run it again only to
change the coverage:

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb noto
    .venv/bin/python scripts/make_chart_font.py \
        noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

OUTPUT = Path(__file__).resolve().parent.parent / "core" / "fonts" / "DubanSans-Regular.otf"
FAMILY = "Duban Sans"
SIMPLIFIED_CHINESE_FACE = 2  # NotoSansCJK-Regular.ttc: JP, KR, SC, TC, HK, then the Mono faces
RANGES = (
    (0x0020, 0x007E), (0x00A0, 0x00FF), (0x2000, 0x206F), (0x2100, 0x214F), (0x2190, 0x21FF),
    (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x2600, 0x26FF), (0x3000, 0x303F), (0x4E00, 0x9FFF),
    (0xFF00, 0xFFEF),
)


def main(source: str) -> None:
    options = subset.Options()
    options.font_number = SIMPLIFIED_CHINESE_FACE
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    names = font["name"]
    postscript = FAMILY.replace(" ", "") + "-Regular"
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(FAMILY if record.nameID == 1 else f"{FAMILY} Regular", record.nameID,
                          record.platformID, record.platEncID, record.langID)
        elif record.nameID in (3, 6):
            names.setName(postscript, record.nameID, record.platformID, record.platEncID,
                          record.langID)
    font["CFF "].cff.fontNames = [postscript]
    subset.save_font(font, str(OUTPUT), options)
    print(f"{OUTPUT}: {OUTPUT.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs")


if __name__ == "__main__":
    main(sys.argv[1])
