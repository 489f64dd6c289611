"""Notifications in the app and by email (Django's email framework), each kind switchable
off per channel; assignment-due reminders once each; password reset by email."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from abvlmq_web.competency.services import signoff_create, signoff_request
from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.notifications.models import Notification
from abvlmq_web.progress.services import remind_due_assignments
from abvlmq_web.review.services import dispute_open
from tests.teaching.conftest import PASSWORD, correct, make_analysis
from tests.teaching.test_competency_status import gb_set, status  # noqa: F401


@pytest.fixture
def emails(resident, instructor):
    for user, address in ((resident, "rita@example.org"), (instructor, "ian@example.org")):
        user.email = address
        user.save(update_fields=["email"])


def test_a_correction_reaches_the_resident_in_the_app_and_by_email(
    client, analysis, resident, instructor, emails, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        correct(analysis, instructor, items=["GB.gallbladder.incomplete"])
    n = Notification.objects.get(user=resident)
    assert n.kind == "reviewed" and n.url == f"/scans/{analysis.scan_id}/"
    assert n.text == (
        f"Ian corrected scan #{analysis.scan_id}: GB, 8 Excellent "
        "(struck out “Acoustic attenuation over less than 1/4 of the sector”)."
    )
    assert [m.to for m in mail.outbox] == [["rita@example.org"]]
    assert n.text in mail.outbox[0].subject and n.url in mail.outbox[0].body
    client.force_login(resident)
    assert 'id="unread-count">1<' in client.get("/").content.decode()
    page = client.get("/notifications/").content.decode()
    assert n.text in page and "new" in page
    assert 'id="unread-count"' not in client.get("/").content.decode()  # read now


def test_an_answered_dispute_says_so(analysis, resident, instructor):
    dispute_open(resident=resident, analysis=analysis, reason="rib shadow")
    correct(analysis, instructor, items=["GB.gallbladder.incomplete"])
    n = Notification.objects.get(user=resident)
    assert n.kind == "dispute_answered" and "answered your dispute" in n.text


def test_each_kind_can_be_switched_off_per_channel(
    client, analysis, resident, instructor, emails, django_capture_on_commit_callbacks
):
    client.force_login(resident)
    form = {"reviewed-app": "on", "dispute_answered-app": "on", "dispute_answered-email": "on"}
    client.post("/notifications/preferences/", form)  # reviewed: in the app only
    page = client.get("/notifications/").content.decode()
    assert re.search(r'id="reviewed-app"[^>]*checked', page)
    assert not re.search(r'id="reviewed-email"[^>]*checked', page)
    with django_capture_on_commit_callbacks(execute=True):
        correct(analysis, instructor)
    assert Notification.objects.filter(user=resident, read_at__isnull=True).count() == 1
    assert mail.outbox == []
    client.post("/notifications/preferences/", {})  # everything off
    with django_capture_on_commit_callbacks(execute=True):
        correct(analysis, instructor, items=[])
    assert Notification.objects.filter(user=resident).count() == 1 and mail.outbox == []


def test_sign_off_requests_and_sign_offs_are_told(resident, instructor, gb_set):  # noqa: F811
    make_analysis(resident, score=7)
    correct(make_analysis(resident, score=9), instructor)
    Notification.objects.all().delete()
    req = status(resident).requirement
    signoff_request(resident=resident, requirement=req, instructor=instructor)
    n = Notification.objects.get(user=instructor)
    assert n.kind == "signoff_request" and n.text == "Rita asks you to sign off GB (Core)."
    assert n.url == f"/competency/residents/{resident.pk}/signoff/{req.pk}/"
    signoff_create(user=instructor, resident=resident, requirement=req)
    assert Notification.objects.get(user=resident).text == "Ian signed off GB (Core)."


def test_a_new_assignment_and_its_due_date_are_told_once(
    resident, other_resident, instructor, cohort
):
    a = assignment_create(
        created_by=instructor, cohort=cohort, title="Spleen", target_planes=["SPL"],
        scan_count=1, min_grade="Good", due_date=dt.date(2030, 1, 10),
    )  # fmt: skip
    for r in (resident, other_resident):
        assert Notification.objects.get(user=r, kind="assignment").text.startswith(
            "New assignment “Spleen”"
        )
    assert remind_due_assignments(today=dt.date(2030, 1, 1)) == 0  # not due within 3 days
    make_analysis(other_resident, planes=("SPL",), structures=[], score=8, assignment=a)
    assert remind_due_assignments(today=dt.date(2030, 1, 8)) == 1  # Rhys is done
    assert remind_due_assignments(today=dt.date(2030, 1, 9)) == 0  # once
    due = Notification.objects.get(kind="assignment_due")
    assert due.user == resident and "due 2030-01-10: 0 of 1 done" in due.text


def test_password_reset_by_email(client, resident, emails):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password-reset/"' in page
    client.post("/accounts/password-reset/", {"email": "rita@example.org"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rita@example.org"]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert 'id="reset-confirm"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
        follow=True,
    )
    assert 'id="reset-complete"' in done.content.decode()
    assert client.login(username="rita", password="a new long passphrase 42")
    assert not client.login(username="rita", password=PASSWORD)
    client.post("/accounts/password-reset/", {"email": "nobody@example.org"})
    assert len(mail.outbox) == 1  # no account, no email, and no hint of it


def test_reminders_are_scheduled_by_the_sweepers_beat_on_the_maintenance_queue(settings):
    from celery.schedules import crontab

    from abvlmq_web.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["remind-due-assignments"]
    assert entry["schedule"] == crontab(hour=7, minute=0)  # the default time of day
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks  # a task the workers know, not a cron line
    route = settings.CELERY_TASK_ROUTES[entry["task"]]["queue"]
    assert route == settings.ABVLMQ_MAINTENANCE_QUEUE  # the sweeper's, never behind a model


def test_an_absent_or_unreadable_reminder_setting_keeps_the_default(caplog):
    from abvlmq_web.env import lenient_int, reminder_time

    assert reminder_time(None, default=(7, 0)) == (7, 0)
    assert reminder_time("  ", default=(7, 0)) == (7, 0)
    assert reminder_time("18:30", default=(7, 0)) == (18, 30)
    for bad in ("7am", "25:00", "12:61", "noon"):
        assert reminder_time(bad, default=(7, 0)) == (7, 0), bad
    assert lenient_int(None, default=3, low=0) == 3
    assert lenient_int("5", default=3, low=0) == 5
    assert lenient_int("three", default=3, low=0) == 3
    assert lenient_int("-1", default=3, low=0) == 3
    assert "keeping 07:00" in caplog.text and "keeping 3" in caplog.text


def test_the_beat_task_sends_the_days_reminders_with_the_configured_window(
    resident, cohort, instructor, settings
):
    import datetime as dt

    from django.utils import timezone

    from abvlmq_web.curriculum.services import assignment_create
    from abvlmq_web.progress.tasks import remind_due

    settings.ABVLMQ_REMIND_DUE_DAYS = 5
    assignment_create(
        created_by=instructor, cohort=cohort, title="Kidneys", target_planes=["RKL"],
        scan_count=1, min_grade="Good", due_date=timezone.localdate() + dt.timedelta(days=5),
    )  # fmt: skip
    assert remind_due() == 2  # both residents: five days out is within the window set (not 3)
    assert remind_due() == 0  # once
