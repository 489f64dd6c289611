"""`manage.py seed_demo`: the demo cohort of `make run`, with phantom scans assessed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.scans.models import Analysis
from tests.web import images

pytestmark = pytest.mark.slow  # a second or more each, measured


def test_it_seeds_a_cohort_with_assessed_phantoms_and_prints_the_logins(db, tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(images.phantom(index=i + 5))
    out = StringIO()
    call_command("seed_demo", images=tmp_path, assess=True, stdout=out)
    assert sorted(User.objects.values_list("role", flat=True)) == [
        "instructor", "program_admin", "resident", "resident",
    ]  # fmt: skip
    cohort = Cohort.objects.get()
    assert cohort.residents.count() == 2 and cohort.instructors.count() == 1
    assert list(Analysis.objects.values_list("status", flat=True)) == ["done"] * 3
    assert "rosa-demo-1" in out.getvalue()

    call_command("seed_demo", images=tmp_path, assess=True, stdout=StringIO())  # again: no-op
    assert User.objects.count() == 4 and Analysis.objects.count() == 3
