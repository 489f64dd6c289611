"""LTI 1.3 on this application's side: accounts and cohorts from launches and rosters, the
assignment a resource link opens, and each resident's result sent to the course's gradebook.

django-lti (``lti_tool``) validates launches (pylti1p3: the platform's signature checked against
its JWKS, issuer, client id, deployment, state and nonce) and records the LTI users, contexts,
memberships and resource links; this module turns them into users, cohorts and assignments.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from lti_tool.models import (
    Key,
    LtiContext,
    LtiDeployment,
    LtiRegistration,
    LtiResourceLink,
    LtiUser,
)

from abvlmq_web.accounts.models import Cohort, Role, User
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.lti.models import AssignmentLink, Course, GradePosted
from abvlmq_web.lti.roles import role_for
from abvlmq_web.progress.selectors.assignments import assignment_progress

log = logging.getLogger(__name__)

SCORE_MAXIMUM = 100.0
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"


class Refused(Exception):
    """A launch this application will not act on; the message says why, to the user."""


def tool_key() -> Key:
    """The tool's signing key (its public half is in /lti/jwks/); made on first need."""
    key = Key.objects.active().order_by("-datetime_created").first()
    return key or Key.objects.generate()


def _username(lti_user: LtiUser) -> str:
    digest = hashlib.sha256(f"{lti_user.registration_id}:{lti_user.sub}".encode()).hexdigest()
    return f"lti-{lti_user.registration_id}-{digest[:16]}"


def _names(lti_user: LtiUser) -> tuple[str, str]:
    first, last = lti_user.given_name, lti_user.family_name
    if not (first or last) and lti_user.name:
        first, _, last = lti_user.name.partition(" ")
    return first[:150], last[:150]


@transaction.atomic
def account_for(*, lti_user: LtiUser, role: Role) -> User:
    """The account of an LTI user, made on first sight (just in time) with ``role``. An account
    made here follows the role the LMS gives at each launch or roster sync; an account an admin
    linked by hand (LtiUser.auth_user set in the admin) keeps its own. No account is ever linked
    by email: an LMS's email is not verified to this application."""
    user = lti_user.auth_user
    first, last = _names(lti_user)
    if user is None:
        user = User(
            username=_username(lti_user),
            role=role,
            first_name=first,
            last_name=last,
            email=lti_user.email,
            is_staff=role == Role.PROGRAM_ADMIN,
            is_superuser=role == Role.PROGRAM_ADMIN,
        )
        user.set_unusable_password()  # signs in through the LMS only
        user.save()
        lti_user.auth_user = user
        lti_user.save(update_fields=["auth_user", "datetime_modified"])
    elif user.username == _username(lti_user) and user.role != role:
        user.role = role
        user.is_staff = user.is_superuser = role == Role.PROGRAM_ADMIN
        user.save(update_fields=["role", "is_staff", "is_superuser"])
    return user


def _cohort_name(context: LtiContext) -> str:
    base = (context.title or context.label or "LMS course").strip()[:100]
    if not Cohort.objects.filter(name=base).exists():
        return base
    return f"{base} (LMS {context.pk})"


@transaction.atomic
def course_for(*, context: LtiContext) -> Course:
    """The course's cohort, made on its first launch."""
    course = Course.objects.filter(context=context).select_related("cohort").first()
    if course is None:
        cohort = Cohort.objects.create(name=_cohort_name(context))
        course = Course.objects.create(context=context, cohort=cohort)
    return course


def member_set(*, course: Course, user: User, active: bool = True) -> None:
    """``user`` in the course's cohort as its role says (residents learn, instructors teach; a
    program admin sees every cohort already), or out of it."""
    cohort = course.cohort
    cohort.residents.remove(user)
    cohort.instructors.remove(user)
    if not active:
        return
    if user.role == Role.RESIDENT:
        cohort.residents.add(user)
    elif user.role == Role.INSTRUCTOR:
        cohort.instructors.add(user)


def launch_account(*, lti_user: LtiUser, roles: Iterable[str], course: Course | None) -> User:
    """The user a launch signs in, member of the course's cohort; Refused when no role maps."""
    roles = list(roles or [])
    role = role_for(roles)
    if role is None:
        shown = ", ".join(r.rsplit("#", 1)[-1].rsplit("/", 1)[-1] for r in roles) or "none"
        raise Refused(
            f"Your role in this course ({shown}) has no place in AbVLM-Q: it opens to "
            "learners (residents), instructors and teaching assistants, and administrators."
        )
    user = account_for(lti_user=lti_user, role=role)
    if course is not None:
        member_set(course=course, user=user)
    return user


@dataclass
class RosterSync:
    added: list[str] = field(default_factory=list)  # usernames now in the cohort
    removed: list[str] = field(default_factory=list)  # usernames taken out of it
    unmapped: int = 0  # active members whose roles give no role here


def roster_sync(*, course: Course) -> RosterSync:
    """Names and Role Provisioning Services: the course's roster as the platform has it now.
    Active members with a role here are in the cohort (accounts made as needed); members
    the roster marks inactive, or leaves out, are taken out of it (their accounts and scans
    stay). Raises pylti1p3's LtiException (or a requests error) when the platform does not
    answer; the cohort is then unchanged."""
    from lti_tool.services.nrps import fetch_member_data

    context = course.context
    tool_key()
    members = fetch_member_data(context)  # every page, before anything changes
    result = RosterSync()
    with transaction.atomic():
        context.update_memberships(members)
        registration = context.deployment.registration
        present: set[int] = set()
        before = set(course.cohort.residents.values_list("pk", flat=True)) | set(
            course.cohort.instructors.values_list("pk", flat=True)
        )
        for member in members:
            lti_user = LtiUser.objects.get(registration=registration, sub=member["user_id"])
            role = role_for(member.get("roles", []))
            active = member.get("status", "Active") == "Active"
            if role is None:
                result.unmapped += int(active)
                continue
            if not active:
                continue
            user = account_for(lti_user=lti_user, role=role)
            member_set(course=course, user=user)
            present.add(user.pk)
            if user.pk not in before:
                result.added.append(user.username)
        for pk in before - present:
            user = User.objects.get(pk=pk)
            linked = LtiUser.objects.filter(registration=registration, auth_user=user).exists()
            if linked:  # a member of the LMS course no more; a local member stays
                member_set(course=course, user=user, active=False)
                result.removed.append(user.username)
        course.roster_synced_at, course.roster_error = timezone.now(), ""
        course.save(update_fields=["roster_synced_at", "roster_error"])
    return result


def launch_assignment(
    *, resource_link: LtiResourceLink, course: Course, claims: dict
) -> Assignment | None:
    """The assignment a resource link opens: the one it was linked to, else the one its custom
    parameter ``assignment_id`` names (set by deep linking); None when neither. The line item
    of the launch's grade service (AGS) is kept for the results."""
    link = AssignmentLink.objects.filter(resource_link=resource_link).first()
    ags = claims.get("https://purl.imsglobal.org/spec/lti-ags/claim/endpoint") or {}
    if link is None:
        wanted = str((claims.get(CUSTOM_CLAIM) or {}).get("assignment_id", "")).strip()
        if not wanted.isdigit():
            return None
        assignment = Assignment.objects.filter(pk=int(wanted), cohort=course.cohort).first()
        if assignment is None:
            return None
        link = AssignmentLink(resource_link=resource_link, assignment=assignment)
    lineitem = ags.get("lineitem") or link.lineitem_url
    scopes = ags.get("scope") or link.score_scopes
    if link.pk is None or (lineitem, scopes) != (link.lineitem_url, link.score_scopes):
        link.lineitem_url, link.score_scopes = lineitem or "", list(scopes or [])
        link.save()
    return link.assignment


def link_assignment(*, resource_link: LtiResourceLink, assignment: Assignment) -> AssignmentLink:
    """An instructor's choice of the assignment a plain resource link opens."""
    course = Course.objects.get(context=resource_link.context)
    if assignment.cohort_id != course.cohort_id:
        raise Refused("That assignment belongs to another cohort than this course's.")
    link, _ = AssignmentLink.objects.update_or_create(
        resource_link=resource_link, defaults={"assignment": assignment}
    )
    return link


def result_of(*, assignment: Assignment, resident: User) -> tuple[float, str, bool]:
    """(score out of SCORE_MAXIMUM, comment, complete): the share of the assignment's scans of a
    target plane at its minimum grade or better, counted as the progress page counts them (an
    instructor's correction over the AI's answer)."""
    progress = assignment_progress(assignment=assignment, resident=resident)
    share = min(progress.passed, progress.required) / max(1, progress.required)
    comment = (
        f"{min(progress.passed, progress.required)} of {progress.required} scans of "
        f"{', '.join(assignment.target_planes)} at {assignment.min_grade} or better"
        f" ({progress.submitted} submitted)."
    )
    return round(share * SCORE_MAXIMUM, 2), comment, progress.complete


@dataclass
class GradeSync:
    posted: list[tuple[str, float]] = field(default_factory=list)  # (platform user id, score)
    unchanged: int = 0
    skipped: int = 0  # links without a line item or a score scope


def grades_post(*, assignment: Assignment, resident: User) -> GradeSync:
    """Assignment and Grade Services: the resident's result on each line item the assignment
    is linked to, sent when it differs from the last one sent. Raises LtiServiceException
    (or a requests error) when the platform refuses or does not answer; nothing is recorded
    as sent then, so the next try sends it again."""
    from pylti1p3.assignments_grades import AssignmentsGradesService
    from pylti1p3.grade import Grade
    from pylti1p3.service_connector import ServiceConnector

    result = GradeSync()
    links = AssignmentLink.objects.filter(assignment=assignment).select_related(
        "resource_link__context__deployment__registration"
    )
    for link in links:
        registration = link.resource_link.context.deployment.registration
        lti_user = LtiUser.objects.filter(registration=registration, auth_user=resident).first()
        if lti_user is None:
            continue  # the resident is not a member through that LMS
        if not link.lineitem_url or AGS_SCORE not in link.score_scopes:
            result.skipped += 1
            continue
        score, comment, complete = result_of(assignment=assignment, resident=resident)
        last = GradePosted.objects.filter(link=link, resident=resident).first()
        if last is not None and last.score_given == score:
            result.unchanged += 1
            continue
        tool_key()
        grade = (
            Grade()
            .set_score_given(score)
            .set_score_maximum(SCORE_MAXIMUM)
            .set_timestamp(timezone.now().isoformat())
            .set_activity_progress("Completed" if complete else "InProgress")
            .set_grading_progress("FullyGraded" if complete else "Pending")
            .set_user_id(lti_user.sub)
            .set_comment(comment)
        )
        service = AssignmentsGradesService(
            ServiceConnector(registration.to_registration()),
            {"scope": link.score_scopes, "lineitem": link.lineitem_url},
        )
        service.put_grade(grade)
        GradePosted.objects.update_or_create(
            link=link,
            resident=resident,
            defaults={"score_given": score, "score_maximum": SCORE_MAXIMUM},
        )
        result.posted.append((lti_user.sub, score))
    return result


def linked(*, assignment_id: int | None) -> bool:
    """Whether an assignment's results go to a gradebook (the receivers ask before queueing)."""
    return (
        bool(assignment_id)
        and AssignmentLink.objects.filter(assignment_id=assignment_id)
        .exclude(lineitem_url="")
        .exists()
    )


# --------------------------------------------------------------------------- set-up


def registration_create(
    *,
    user: User,
    name: str,
    issuer: str,
    client_id: str,
    auth_url: str,
    token_url: str,
    keyset_url: str,
    deployment_ids: Iterable[str],
) -> LtiRegistration:
    """A platform's registration and its deployments, from the set-up page (a program admin's):
    every field checked, in words an LMS administrator reads; nothing saved when one is wrong."""
    require_program_admin(user)
    problems: dict[str, str] = {}
    fields = {"name": name, "issuer": issuer, "client_id": client_id}
    for key, value in fields.items():
        if not value.strip():
            problems[key] = "Required."
        elif len(value) > 255:
            problems[key] = "At most 255 characters."
    check = URLValidator(schemes=["https"] if not django_settings.DEBUG else ["https", "http"])
    for key, value in (("auth_url", auth_url), ("token_url", token_url),
                       ("keyset_url", keyset_url)):  # fmt: skip
        try:
            check(value.strip())
        except ValidationError:
            problems[key] = "An https:// URL from the platform's registration page."
    ids = [d.strip() for d in deployment_ids if d.strip()]
    if not ids:
        problems["deployment_ids"] = "At least one deployment ID (the LMS shows it)."
    if not problems.get("issuer") and not problems.get("client_id"):
        clash = LtiRegistration.objects.filter(issuer=issuer.strip(), client_id=client_id.strip())
        if clash.exists():
            problems["client_id"] = "This issuer and client ID are registered already."
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        registration = LtiRegistration.objects.create(
            name=name.strip(), issuer=issuer.strip(), client_id=client_id.strip(),
            auth_url=auth_url.strip(), token_url=token_url.strip(),
            keyset_url=keyset_url.strip(), is_active=True,
        )  # fmt: skip
        for deployment_id in dict.fromkeys(ids):
            LtiDeployment.objects.create(
                registration=registration, deployment_id=deployment_id, is_active=True
            )
        audit_record(
            actor=user, action="lti.registration.create",
            details={"name": registration.name, "issuer": registration.issuer,
                     "client_id": registration.client_id, "deployments": ids},
        )  # fmt: skip
    tool_key()  # the JWKS the platform fetches has a key from now on
    return registration


def deployment_set_active(*, user: User, deployment: LtiDeployment, active: bool) -> None:
    require_program_admin(user)
    deployment.is_active = active
    deployment.save(update_fields=["is_active"])
    audit_record(
        actor=user, action="lti.deployment.active" if active else "lti.deployment.inactive",
        details={"registration": deployment.registration.name,
                 "deployment_id": deployment.deployment_id},
    )  # fmt: skip
