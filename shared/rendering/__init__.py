"""Message templates: Jinja2 in a sandbox, validated at save time, rendered per recipient.

``render_variation`` is on the send hot path: compiled templates are cached by variation id and
``updated_at``, and link rewriting is one regular-expression pass over the rendered HTML.
"""

from shared.rendering.templates import (
    MessageUrls,
    Rendered,
    message_layout,
    render_variation,
    validate_templates,
)

__all__ = ["MessageUrls", "Rendered", "message_layout", "render_variation", "validate_templates"]
