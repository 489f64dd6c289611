"""``{% teaching_panel teaching %}``: renders the scan page's teaching panel from the context
its view read (progress.selectors.teaching.scan_teaching); the tag itself runs no query."""

from __future__ import annotations

from django import template

register = template.Library()


@register.inclusion_tag("_partials/scan_panel.html", takes_context=True)
def teaching_panel(context, teaching):
    if teaching.get("analysis") is None:
        return {"analysis": None}
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        **teaching,
    }


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
