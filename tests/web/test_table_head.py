"""{% table_head %} writes the header row the list tables had by hand; a heading from a
variable is escaped, as {{ }} would escape it."""

from __future__ import annotations

from django.template import engines


def test_it_writes_one_th_per_heading_in_order_blank_ones_too():
    template = engines["django"].from_string('{% load tables %}{% table_head "Plane" "" h %}')
    assert template.render({"h": "a<b"}) == (
        "<thead><tr><th>Plane</th><th></th><th>a&lt;b</th></tr></thead>"
    )
