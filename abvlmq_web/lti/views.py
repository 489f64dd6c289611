"""LTI 1.3 endpoints: the tool's JWKS, OIDC third-party login initiation, the launch (resource
links and deep linking), and the deep-linking choice. The values an LMS registers are in
docs/lti.md.

A refused launch gets a page that says why (status 403) and changes nothing: no account, no
cohort. Launches open in their own window (this application sends X-Frame-Options: DENY)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from lti_tool.models import Key, LtiDeployment, LtiResourceLink
from lti_tool.utils import DjangoToolConfig, get_launch_from_request, sync_data_from_launch
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem

from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.lti.models import Course
from abvlmq_web.lti.services import (
    SCORE_MAXIMUM,
    Refused,
    course_for,
    launch_account,
    launch_assignment,
    link_assignment,
    tool_key,
)
from abvlmq_web.lti.tasks import sync_roster
from abvlmq_web.lti.tokens import form_problem

log = logging.getLogger(__name__)
SESSION_LAUNCH = "lti_launch_id"  # the launch a deep-linking or link choice answers
NONCE_TTL = 24 * 3600  # pylti1p3 keeps a launch's nonce this long; a use is remembered as long

# pylti1p3's messages, said for a person (the detail follows in the page)
_REASONS = [
    ("State not found", "This launch does not match a login started from this browser."),
    ("Missing state", "This launch does not match a login started from this browser."),
    ("Invalid Nonce", "This launch's nonce was not issued here (or has expired)."),
    ("nonce", "This launch's nonce is missing."),
    ("Signature has expired", "This launch has expired: open it again from the course."),
    ("Signature verification failed", "This launch's signature is not the platform's."),
    ("Unable to find public key", "This launch is signed with a key the platform does not list."),
    ("Registration not found", "This LMS is not registered here: ask your program admin."),
    ("Client id not registered", "This LMS is not registered here: ask your program admin."),
    ("Could not find registration", "This LMS is not registered here: ask your program admin."),
    ("Can't decode id_token", "This launch's token could not be verified."),
    ("Invalid id_token", "This launch's token is malformed."),
    ("Invalid JWT format", "This launch's token is malformed."),
]


def _refused(request, reason: str, detail: str = "", status: int = 403) -> HttpResponse:
    log.warning("LTI launch refused: %s %s", reason, detail)
    context = {"reason": reason, "detail": detail}
    return render(request, "lti/refused.html", context, status=status)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in _REASONS:
        if needle.lower() in text.lower():
            return reason
    return "This launch could not be verified."


def jwks(request) -> JsonResponse:
    """The tool's public keys, which the platform checks our signatures against."""
    tool_key()
    return JsonResponse(Key.objects.as_jwks())


@method_decorator(csrf_exempt, name="dispatch")
class LoginInit(View):
    """OIDC third-party login initiation: the platform sends the browser here; we send it back
    to the platform's authorisation endpoint with a state (also set as a cookie) and a nonce."""

    def get(self, request, registration_uuid=None):
        return self._start(request, registration_uuid, request.GET)

    def post(self, request, registration_uuid=None):
        return self._start(request, registration_uuid, request.POST)

    def _start(self, request, registration_uuid, params):
        target = params.get("target_link_uri")
        if not target:
            return HttpResponseBadRequest("Missing target_link_uri parameter.")
        if not _our_launch_url(request, target):
            return _refused(
                request,
                "This login asks to go somewhere other than this tool's launch URL.",
                f"target_link_uri {target[:200]!r}",
                status=400,
            )
        tool_key()  # the tool's signing key, made on first use (a login may come before a JWKS)
        conf = DjangoToolConfig(registration_uuid)
        oidc = DjangoOIDCLogin(request, conf, launch_data_storage=DjangoCacheDataStorage())
        try:
            return oidc.redirect(target)
        except (LtiException, OIDCException) as exc:
            return _refused(request, _reason(exc), str(exc), status=400)
        except Exception as exc:  # a malformed form pylti1p3 did not expect: never a 500
            log.warning("LTI login initiation failed on %s", type(exc).__name__, exc_info=True)
            return _refused(request, "This login request is malformed.", status=400)


def _our_launch_url(request, target: str) -> bool:
    """Whether ``target`` is this tool's launch URL (on this host: an LMS may register http
    behind a TLS proxy, so the scheme is not compared)."""
    try:
        url = urlsplit(target)
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or url.username or url.password:
        return False
    return url.netloc.lower() == request.get_host().lower() and url.path == reverse("lti-launch")


@method_decorator(csrf_exempt, name="dispatch")
class Launch(View):
    """The launch: the platform's signed id_token, posted by the browser."""

    def post(self, request, *args, **kwargs):
        problem = form_problem(request.POST)
        if problem is not None:
            return _refused(request, "This launch's token is malformed.", problem, status=400)
        try:
            lti_launch = get_launch_from_request(request)
        except LtiException as exc:
            return _refused(request, _reason(exc), str(exc))
        except requests.RequestException as exc:  # the platform's keys could not be fetched
            return _refused(request, "The LMS's keys could not be fetched to check this launch.",
                            type(exc).__name__)  # fmt: skip
        except Exception as exc:  # a shape the pre-check let through and pylti1p3 did not expect
            log.warning("LTI launch failed on %s", type(exc).__name__, exc_info=True)
            return _refused(request, "This launch's token is malformed.", status=400)
        nonce = lti_launch.get_claim("nonce")
        if not cache.add(f"lti:nonce-used:{nonce}", 1, timeout=NONCE_TTL):
            return _refused(request, "This launch was used already: open it again from the course.")
        if not lti_launch.deployment.is_active:
            return _refused(
                request,
                "This course's deployment is not active here yet: a program admin activates it "
                "(Admin > LTI registrations, its deployments).",
                f"deployment {lti_launch.deployment.deployment_id}",
            )
        sync_data_from_launch(lti_launch)
        course = None
        if lti_launch.context_claim is not None:
            course = course_for(context=lti_launch.context)
        try:
            user = launch_account(
                lti_user=lti_launch.user, roles=lti_launch.roles_claim or [], course=course
            )
        except Refused as exc:
            return _refused(request, str(exc))
        if not user.is_active:
            return _refused(request, "This account is disabled here.")
        request.session.flush()
        login(request, user, backend="abvlmq_web.lti.backends.LaunchBackend")
        request.session[SESSION_LAUNCH] = lti_launch.get_launch_id()
        if course is not None and course.context.memberships_url and is_reviewer(user):
            course_id = course.pk  # an instructor's launch refreshes the roster, after commit
            transaction.on_commit(lambda: sync_roster.delay(course_id))
        if lti_launch.is_deep_link_launch:
            return self.deep_link(request, user, course)
        if lti_launch.is_resource_launch:
            return self.resource(request, lti_launch, user, course)
        return _refused(request, "This kind of LTI message is not supported here.")

    def resource(self, request, lti_launch, user, course):
        assignment = None
        if course is not None:
            assignment = launch_assignment(
                resource_link=lti_launch.resource_link,
                course=course,
                claims=lti_launch.get_launch_data(),
            )
        if assignment is None:
            if is_reviewer(user) and course is not None:
                return redirect("lti-link", resource_link_id=lti_launch.resource_link.pk)
            return redirect("home")
        if user.is_resident:
            return redirect(f"{reverse('upload')}?assignment={assignment.pk}")
        return redirect("progress-cohort", cohort_id=assignment.cohort_id)

    def deep_link(self, request, user, course):
        if not is_reviewer(user) or course is None:
            return _refused(request, "Only instructors add AbVLM-Q assignments to a course.")
        return redirect("lti-deep-link")


def _course_assignments(course: Course):
    return Assignment.objects.filter(cohort=course.cohort).order_by("due_date", "id")


def _session_launch(request) -> DjangoMessageLaunch | None:
    launch_id = request.session.get(SESSION_LAUNCH)
    if not launch_id or not request.user.is_authenticated:
        return None
    try:
        return DjangoMessageLaunch.from_cache(
            launch_id, request, DjangoToolConfig(), launch_data_storage=DjangoCacheDataStorage()
        )
    except LtiException:
        return None


class DeepLinkChoice(View):
    """Deep linking: an instructor picks one of the course's assignments; the LMS gets a
    resource link to it with a gradebook column (line item) for its results."""

    def get(self, request):
        message = _session_launch(request)
        if message is None or not message.is_deep_link_launch() or not is_reviewer(request.user):
            return _refused(request, "Open this page from the course's editor in your LMS.")
        course = _course_of(message)
        context = {"course": course, "assignments": _course_assignments(course)}
        return render(request, "lti/deep_link.html", context)

    def post(self, request):
        message = _session_launch(request)
        if message is None or not message.is_deep_link_launch() or not is_reviewer(request.user):
            return _refused(request, "Open this page from the course's editor in your LMS.")
        course = _course_of(message)
        assignment = get_object_or_404(
            _course_assignments(course), pk=request.POST.get("assignment")
        )
        tool_key()
        target = request.build_absolute_uri(reverse("lti-launch"))
        item = (
            LineItem()
            .set_label(assignment.title)
            .set_score_maximum(SCORE_MAXIMUM)
            .set_resource_id(f"abvlmq-assignment-{assignment.pk}")
            .set_tag("abvlmq")
        )
        resource = (
            DeepLinkResource()
            .set_url(target)
            .set_title(assignment.title)
            .set_custom_params({"assignment_id": str(assignment.pk)})
            .set_lineitem(item)
        )
        deep_link = message.get_deep_link()
        settings = message.get_launch_data()[
            "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
        ]
        context = {
            "return_url": settings["deep_link_return_url"],
            "jwt": deep_link.get_response_jwt([resource]),
            "assignment": assignment,
        }
        return render(request, "lti/deep_link_return.html", context)


def _course_of(message: DjangoMessageLaunch) -> Course:
    data = message.get_launch_data()
    context = data.get("https://purl.imsglobal.org/spec/lti/claim/context") or {}
    return get_object_or_404(
        Course,
        context__id_on_platform=context.get("id", ""),
        context__deployment__deployment_id=data.get(
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
        ),
        context__deployment__registration__issuer=data.get("iss"),
    )


class LinkChoice(View):
    """A resource link the instructor added without deep linking: pick the assignment it
    opens (once; residents launching it before are sent to their home page)."""

    def _link(self, request, resource_link_id):
        link = get_object_or_404(
            LtiResourceLink.objects.select_related("context"), pk=resource_link_id
        )
        message = _session_launch(request)
        if message is None or not is_reviewer(request.user):
            return link, None
        claim = message.get_launch_data().get(
            "https://purl.imsglobal.org/spec/lti/claim/resource_link"
        )
        if (claim or {}).get("id") != link.id_on_platform:
            return link, None
        return link, Course.objects.get(context=link.context)

    def get(self, request, resource_link_id):
        link, course = self._link(request, resource_link_id)
        if course is None:
            return _refused(request, "Open this link from the course in your LMS.")
        context = {"course": course, "assignments": _course_assignments(course), "link": link}
        return render(request, "lti/link.html", context)

    def post(self, request, resource_link_id):
        link, course = self._link(request, resource_link_id)
        if course is None:
            return _refused(request, "Open this link from the course in your LMS.")
        assignment = get_object_or_404(
            _course_assignments(course), pk=request.POST.get("assignment")
        )
        try:
            link_assignment(resource_link=link, assignment=assignment)
        except Refused as exc:
            return _refused(request, str(exc))
        return redirect("progress-cohort", cohort_id=assignment.cohort_id)


# --------------------------------------------------------------------------- set-up page

SETUP_FIELDS = (
    ("name", "Name", "e.g. the LMS's name: Canvas, Moodle"),
    ("issuer", "Issuer", "the platform's issuer (iss), from its registration page"),
    ("client_id", "Client ID", "the client ID the LMS gave this tool"),
    ("auth_url", "OIDC authorization URL", "the platform's authentication request URL"),
    ("token_url", "Access token URL", "the platform's OAuth2 token URL"),
    ("keyset_url", "Key set URL", "the platform's public keys (JWKS) URL"),
    ("deployment_ids", "Deployment IDs", "one or more, separated by commas"),
)


@login_required
def setup(request):
    """A program admin's page to connect an LMS: the URLs to paste into it, each registration
    with its deployments' state, and the form to add one (issue 32: not the raw admin)."""
    from django.core.exceptions import PermissionDenied, ValidationError

    from abvlmq_web.lti.selectors import registrations
    from abvlmq_web.lti.services import deployment_set_active, registration_create

    if not getattr(request.user, "is_program_admin", False):
        raise Http404
    errors: dict = {}
    values = {k: "" for k, _, _ in SETUP_FIELDS}
    status = 200
    if request.method == "POST":
        if "deployment" in request.POST:
            dep = get_object_or_404(LtiDeployment, pk=request.POST["deployment"])
            try:
                deployment_set_active(
                    user=request.user, deployment=dep, active=request.POST.get("active") == "1"
                )
            except PermissionDenied as exc:
                raise Http404 from exc
            return redirect("lti-setup")
        values = {k: request.POST.get(k, "") for k in values}
        try:
            registration_create(
                user=request.user, **{k: v for k, v in values.items() if k != "deployment_ids"},
                deployment_ids=values["deployment_ids"].split(","),
            )  # fmt: skip
            return redirect("lti-setup")
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
    urls = {
        "login": request.build_absolute_uri(reverse("lti-login")),
        "launch": request.build_absolute_uri(reverse("lti-launch")),
        "deep_link": request.build_absolute_uri(reverse("lti-launch")),
        "jwks": request.build_absolute_uri(reverse("lti-jwks")),
    }
    fields = [
        (k, label, hint, values[k], errors.get(k, [""])[0]) for k, label, hint in SETUP_FIELDS
    ]
    context = {"urls": urls, "registrations": registrations(), "fields": fields, "errors": errors}
    return render(request, "lti/setup.html", context, status=status)
