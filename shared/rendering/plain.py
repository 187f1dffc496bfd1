"""The plain-text alternative of an HTML-only body, so no message goes out HTML-only.

html2text (well kept, the converter listmonk and many mailers lean on in spirit) writes links as
``[text](url)``, so every link stays readable in the plain part. The conversion runs on the HTML
*template*, once per variation version, not on each recipient's rendered HTML: Jinja tags pass
through html2text as text, and the converted template renders per recipient at the cost of a
plain template. Should a conversion not compile (a tag split by markup), the rendered HTML of each
message is converted instead.
"""

from __future__ import annotations

import html2text


def html_to_text(source: str) -> str:
    """Readable plain text of an HTML document (or template): headings, lists and emphasis as
    light markdown, links as ``[text](url)``, images left out, lines not re-wrapped."""
    converter = html2text.HTML2Text()
    converter.body_width = 0  # never wrap: a wrap could split a template tag or a URL
    converter.ignore_images = True
    converter.unicode_snob = True  # keep non-ASCII letters as they are
    converter.ignore_emphasis = False
    return converter.handle(source).strip() + "\n"
