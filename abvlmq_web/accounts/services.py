"""Writes on users and cohorts."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from abvlmq_web.accounts.models import Cohort, Role, User


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: str = Role.RESIDENT,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(Role.values)}")
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        # Program admins manage users and cohorts in the Django admin.
        is_staff=role == Role.PROGRAM_ADMIN,
        is_superuser=role == Role.PROGRAM_ADMIN,
    )
    user.full_clean(exclude=["password"])
    validate_password(password, user)  # raises ValidationError, as the admin's forms do
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def cohort_create(
    *, name: str, instructors: Iterable[User] = (), residents: Iterable[User] = ()
) -> Cohort:
    cohort = Cohort.objects.create(name=name)
    cohort_add_members(cohort=cohort, instructors=instructors, residents=residents)
    return cohort


@transaction.atomic
def cohort_add_members(
    *, cohort: Cohort, instructors: Iterable[User] = (), residents: Iterable[User] = ()
) -> Cohort:
    instructors, residents = list(instructors), list(residents)
    for user in instructors:
        if user.role != Role.INSTRUCTOR:
            raise ValueError(f"{user.username} is not an instructor")
    for user in residents:
        if user.role != Role.RESIDENT:
            raise ValueError(f"{user.username} is not a resident")
    cohort.instructors.add(*instructors)
    cohort.residents.add(*residents)
    return cohort


def token_issue(*, user: User):
    """The user's API token; an expired one is replaced by a new one."""
    from rest_framework.authtoken.models import Token

    from abvlmq_web.accounts.authentication import token_expired

    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def token_revoke(*, user: User) -> None:
    """Log the user's API clients out: her token stops working at once."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
