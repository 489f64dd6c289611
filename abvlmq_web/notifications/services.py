"""Writes on notifications: ``notify`` (the one way the other apps tell a user something),
reading them, and the preferences. (The assignment-due reminders read progress, so they live
there: progress.services.remind_due_assignments.)"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.notifications.models import Kind, Notification, Preference

log = logging.getLogger(__name__)


def _off(user: User, kind: str) -> set[str]:
    return set(Preference.objects.filter(user=user, kind=kind).values_list("channel", flat=True))


def notify(*, user: User, kind: str, text: str, url: str = "", key: str = "") -> None:
    """Tell ``user``: in the app and by email, each unless she switched that kind off there.
    The email leaves once the caller's transaction commits (never for a rolled-back change);
    a failing mail server is logged, never raised into the change that caused it. With
    ``key``, at most one notification per user and key is ever made (reminders)."""
    off = _off(user, kind)
    want_email = Preference.Channel.EMAIL not in off and bool(user.email)
    if Preference.Channel.APP in off and not want_email:
        return
    if key and Notification.objects.filter(user=user, key=key).exists():
        return
    try:
        with transaction.atomic():
            Notification.objects.create(
                user=user, kind=kind, text=text[:500], url=url, key=key,
                read_at=timezone.now() if Preference.Channel.APP in off else None,
                emailed=want_email,
            )  # fmt: skip
    except IntegrityError:  # a concurrent reminder with the same key won
        return
    if want_email:
        site = settings.ABVLMQ_SITE_URL.rstrip("/")
        link = f"{site}{url}" if url else ""
        body = f"{text}\n\n{link}\n\nTurn these off: {site}/notifications/"
        transaction.on_commit(lambda: _send(user.email, text, body))


def _send(address: str, subject: str, body: str) -> None:
    try:
        send_mail(f"AbVLM-Q: {subject}"[:200], body, None, [address])
    except Exception:
        log.warning("could not email %s", address, exc_info=True)


def notifications_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def preferences_set(*, user: User, on: set[tuple[str, str]]) -> None:
    """``on``: the (kind, channel) pairs the user wants; every other pair is switched off."""
    Preference.objects.filter(user=user).delete()
    Preference.objects.bulk_create(
        Preference(user=user, kind=k, channel=c)
        for k in Kind.values
        for c in Preference.Channel.values
        if (k, c) not in on
    )
