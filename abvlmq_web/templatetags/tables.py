"""``{% table_head %}``: the header row of a list table, written once.

``{% load tables %}<table class="list">{% table_head "Plane" "Scans" "" %}<tbody>...`` renders
``<thead><tr><th>Plane</th><th>Scans</th><th></th></tr></thead>``, as written by hand
before; a heading from a variable is escaped.
Registered in settings.TEMPLATES (``libraries``): it belongs to no app, since every app's pages
use it. Headings with markup of their own (scope, a condition inside) stay written out.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()


@register.simple_tag
def table_head(*headings: str) -> str:
    cells = format_html_join("", "<th>{}</th>", ((h,) for h in headings))
    return format_html("<thead><tr>{}</tr></thead>", cells)
