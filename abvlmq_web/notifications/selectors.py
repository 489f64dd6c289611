from __future__ import annotations

from django.db.models import QuerySet

from abvlmq_web.accounts.models import User
from abvlmq_web.notifications.models import Kind, Notification, Preference


def notifications_of(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user)


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def preference_table(*, user: User) -> list[tuple[str, str, bool, bool]]:
    """(kind, label, in the app, by email) for every kind."""
    off = set(Preference.objects.filter(user=user).values_list("kind", "channel"))
    return [(k, label, (k, "app") not in off, (k, "email") not in off) for k, label in Kind.choices]
