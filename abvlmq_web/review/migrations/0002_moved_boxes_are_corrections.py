"""A correction saved as "confirmed" while it moved, added or deleted a box is a correction
(issue 32): the stored flag counted only planes and deductions. Only True -> False."""

from django.db import migrations, models

MOVED = 5  # as abvlmq_web.review.assessments.MOVED: a corner more than this on the 0-1000 grid


def _boxes(items):
    return {s.get("id"): s.get("box") for s in items or [] if isinstance(s, dict)}


def forwards(apps, schema_editor):
    Correction = apps.get_model("review", "Correction")
    for c in Correction.objects.filter(confirmed=True).select_related("analysis").iterator():
        ai = _boxes((c.analysis.result or {}).get("structures"))
        mine = _boxes(c.structures)
        changed = set(ai) != set(mine) or any(
            a and b and max(abs(float(x) - float(y)) for x, y in zip(a, b, strict=False)) > MOVED
            for a, b in ((ai[k], mine[k]) for k in ai if k in mine)
        )
        if changed:
            Correction.objects.filter(pk=c.pk).update(confirmed=False)


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="correction",
            name="confirmed",
            field=models.BooleanField(
                help_text="Nothing changed from the AI's answer (planes, deductions and boxes): "
                "the reviewer confirms it; any change is a correction"
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
