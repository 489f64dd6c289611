"""Who opens the live page and the watch page (issue 34): residents and instructors practise
(program admins have no live page), an assignment must be hers, and only an instructor of her
cohort watches a resident's session; the nav links the page for those who may open it."""

from __future__ import annotations

import pytest
from django.test import Client

from abvlmq_web.curriculum.services import assignment_create

pytestmark = pytest.mark.django_db


def page(user, url: str):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url)


def test_residents_and_instructors_open_the_live_page_and_nobody_else(people, assignment):
    for role in ("resident", "instructor"):
        response = page(people[role], "/live/")
        assert response.status_code == 200, role
        body = response.content.decode()
        assert 'id="video"' in body and 'data-socket="/ws/live/"' in body
        assert 'href="/live/"' in body  # the nav's link
    assert page(people["program_admin"], "/live/").status_code == 404
    assert 'href="/live/"' not in page(people["program_admin"], "/").content.decode()
    anonymous = page(None, "/live/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_an_assignment_of_hers_sets_the_socket_and_the_targets(people, assignment, other_cohort):
    response = page(people["resident"], f"/live/?assignment={assignment.pk}")
    body = response.content.decode()
    assert f'data-socket="/ws/live/?assignment={assignment.pk}"' in body
    assert "Live scanning: Gallbladder week" in body and "(at least Good)" in body
    theirs = assignment_create(
        created_by=people["other_instructor"], cohort=other_cohort,
        title="Theirs", target_planes=["GB"], scan_count=1, min_grade="Good", due_date=None,
    )  # fmt: skip
    assert page(people["resident"], f"/live/?assignment={theirs.pk}").status_code == 404
    assert page(people["resident"], "/live/?assignment=x").status_code == 404


def test_only_an_instructor_of_her_cohort_opens_the_watch_page(people):
    url = f"/live/watch/{people['resident'].pk}/"
    listed = page(people["instructor"], "/live/").content.decode()
    assert (
        f'href="{url}"' in listed and f'href="/live/watch/{people["other_resident"].pk}/"' in listed
    )
    assert 'id="watch-list"' not in page(people["resident"], "/live/").content.decode()
    response = page(people["instructor"], url)
    assert response.status_code == 200
    assert f'data-socket="/ws/live/watch/{people["resident"].pk}/"' in response.content.decode()
    for role in ("other_instructor", "other_resident", "resident", "program_admin"):
        assert page(people[role], url).status_code == 404, role
    assert page(people["instructor"], f"/live/watch/{people['instructor'].pk}/").status_code == 404
