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


def test_the_demo_cohort_has_a_requirement_set_so_competency_pages_and_exports_have_rows(db):
    from django.test import Client

    from abvlmq_web.competency.exports import cohort_rows, to_csv
    from abvlmq_web.competency.selectors import cohort_competency, resident_competency

    call_command("seed_demo", stdout=StringIO())
    cohort = Cohort.objects.get()
    [requirement_set] = cohort.requirement_sets.all()
    planes = sorted(r.plane for r in requirement_set.requirements.all())
    assert planes == ["GB", "PAN", "RKL"]
    for plane, n in (("GB", 3), ("PAN", 3), ("RKL", 2)):  # the description says these numbers
        assert f"{n} " in requirement_set.description and plane in requirement_set.description
    rosa = User.objects.get(username="rosa")
    assert len(resident_competency(resident=rosa)) == 3
    rows = cohort_rows(cohort, cohort_competency(cohort=cohort))
    assert len(rows) == 2 * 3  # two residents, three requirements each
    assert to_csv(rows).decode().count("\n") >= 1 + 6
    client = Client()
    client.force_login(rosa)
    page = client.get(f"/competency/residents/{rosa.pk}/").content.decode()
    assert "GB" in page and "not started" in page  # no scans yet in this seed


def test_make_runs_seed_fills_the_example_library_with_reviewed_phantoms(db, tmp_path, client):
    """`seed_demo --examples`: Excellent phantoms uploaded through intake, assessed, reviewed to
    their truth and published: the library shows one per plane, the scan page of a resident's
    scan of that plane shows it beside hers, and the library's account cannot log in."""
    from abvlmq_web.progress.models import TeachingExample
    from abvlmq_web.review.models import Correction
    from tests.web.conftest import upload
    from trainer.phantoms.dataset import excellent_per_plane

    excellent_per_plane(tmp_path / "ex", per_plane=1, seed=12, size=224)
    call_command("seed_demo", assess=True, examples=tmp_path / "ex", stdout=StringIO())
    assert TeachingExample.objects.count() == 11
    corrections = Correction.objects.all()
    assert corrections.count() == 11 and {c.score for c in corrections} == {10.0}
    library = User.objects.get(username="examples")
    assert not library.has_usable_password()
    rosa = User.objects.get(username="rosa")
    client.force_login(rosa)
    page = client.get("/examples/").content.decode()
    for code in ("GB", "RKL", "PAN", "SPL"):
        section = page[page.index(f'id="plane-{code}"') :][:1500]
        assert 'class="example"' in section and "10 Excellent" in section, code
    scan = upload(rosa, images.phantom())  # the scripted engine calls it a GB view
    from abvlmq_web.scans.analysis import analysis_run

    analysis_run(analysis_id=scan.analysis.pk)
    scan_page = client.get(f"/scans/{scan.pk}/").content.decode()
    assert 'id="plane-example"' in scan_page and "What Excellent looks like: GB" in scan_page
    call_command("seed_demo", assess=True, examples=tmp_path / "ex", stdout=StringIO())
    assert TeachingExample.objects.count() == 11  # again: nothing new
