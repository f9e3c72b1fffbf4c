"""A PowerPoint file of a slide: briefings are made in PowerPoint, so a slide should drop into one as it is.

One slide of the picture's aspect (16:9 at the default 1920x1080) with the slide's PNG full-bleed, the slide's
summary (title and counts sentences, :func:`dashboard.slides.words.summary_text`) as the picture's alt text, and the
finding and the sources in the speaker notes (:func:`dashboard.slides.words.notes_text`). The picture is the very PNG of
``/export.png`` (rendered once, from the same cache), so the deck says what the page and the slide say.
"""

from __future__ import annotations

import io

from dashboard.service import View
from dashboard.slides import words as slide_words

PPTX_MIME = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
SLIDE_WIDTH_EMU = 12_192_000  # 13.333 inches: PowerPoint's own 16:9 width
BLANK_LAYOUT = 6  # "Blank" in python-pptx's default template


def pptx_bytes(png: bytes, width: int, height: int, alt_text: str, notes: str, title: str = "") -> bytes:
    """A one-slide presentation holding ``png`` (``width`` x ``height`` pixels) edge to edge, with its alt text
    and speaker notes; the deck's title property is ``title``."""
    from pptx import Presentation

    deck = Presentation()
    deck.slide_width = SLIDE_WIDTH_EMU
    deck.slide_height = round(SLIDE_WIDTH_EMU * height / width)
    page = deck.slides.add_slide(deck.slide_layouts[BLANK_LAYOUT])
    picture = page.shapes.add_picture(io.BytesIO(png), 0, 0, deck.slide_width, deck.slide_height)
    picture.name = title[:250] or "Slide"
    picture._element.nvPicPr.cNvPr.set("descr", alt_text)  # python-pptx has no alt-text property yet
    page.notes_slide.notes_text_frame.text = notes
    deck.core_properties.title = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def slide_pptx(view: View, png: bytes, width: int, height: int) -> bytes:
    """The view's slide (its PNG, rendered already) as a PowerPoint file."""

    return pptx_bytes(png, width, height, slide_words.summary_text(view), slide_words.notes_text(view),
                      slide_words.title_text(view.state))
