"""LTI 1.3 against an LMS platform of the tests' own on 127.0.0.1 (tests/fakes/lti/platform.py: real
RSA keys, signed id_tokens, its JWKS, a client-credentials token endpoint that checks the
tool's signed assertion against the tool's JWKS, NRPS and AGS endpoints that record what they
get). The browser is Django's test client here and a requests call at the platform; between
the tool and the platform everything goes over HTTP.

Flows: a launch per role, deep linking, a roster sync that adds and removes residents, a score
posted and updated. Refused, each with its reason on the page and no account made: a launch
signed by another key, an expired one, a replayed one, one for another client (audience), one
with another state, one from an inactive deployment, one with no role that maps.
"""

from __future__ import annotations

import time

import pytest
import requests
from django.test import Client
from lti_tool.models import LtiDeployment, LtiRegistration, LtiUser
from pylti1p3.exception import LtiServiceException

from abvlmq_web.accounts.models import Cohort, Role, User
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.lti.models import AssignmentLink, Course, GradePosted
from abvlmq_web.lti.services import grades_post, roster_sync
from abvlmq_web.lti.tasks import post_grades, sync_roster
from tests.fakes.lti.platform import (
    ADMINISTRATOR,
    INSTRUCTOR,
    LEARNER,
    MENTOR,
    TEACHING_ASSISTANT,
    Launch,
    Platform,
    _key,
    form_fields,
    member,
)
from tests.teaching.conftest import correct, make_analysis

LAUNCH_URL = "http://testserver/lti/launch/"


@pytest.fixture
def platform():
    p = Platform().start()
    p.tool_redirect_uris = [LAUNCH_URL]
    yield p
    p.stop()


@pytest.fixture
def registration(db, platform):
    reg = LtiRegistration.objects.create(
        name="Test LMS",
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_url=platform.auth_url,
        token_url=platform.token_url,
        keyset_url=platform.jwks_url,
    )
    LtiDeployment.objects.create(
        registration=reg, deployment_id=platform.deployment_id, is_active=True
    )
    # the tool's public keys, registered with the platform as an admin pastes its JWKS URL
    platform.tool_jwks = Client().get("/lti/jwks/").json()
    return reg


def launch(client: Client, platform: Platform, spec: Launch, *, tamper=None):
    """The browser's way through a launch: the platform sends it to the tool's login
    initiation, the tool back to the platform's authorization endpoint, the platform's
    auto-posting form to the tool's launch URL. ``tamper`` changes the posted fields."""
    platform.launches[spec.sub] = spec
    start = client.get(
        "/lti/login/",
        {
            "iss": platform.issuer,
            "login_hint": spec.sub,
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id,
            "lti_message_hint": "hint-1",
        },
    )
    assert start.status_code == 302, start.content
    auth = requests.get(start["Location"], timeout=10)
    assert auth.status_code == 200, auth.text
    action, fields = form_fields(auth.text)
    assert action == LAUNCH_URL
    if tamper:
        fields = tamper(fields)
    return client.post("/lti/launch/", fields), fields


def refused(response, reason: str) -> None:
    assert response.status_code == 403, response.content[:400]
    text = response.content.decode()
    assert reason in text, text[:1500]


# ---------------------------------------------------------------------------------- launches


def test_the_tools_jwks_lists_one_rsa_signing_key(db):
    keys = Client().get("/lti/jwks/").json()["keys"]
    assert len(keys) == 1
    assert {keys[0]["kty"], keys[0]["alg"], keys[0]["use"]} == {"RSA", "RS256", "sig"}
    assert "d" not in keys[0]  # never the private half


def test_a_learner_launch_signs_in_a_resident_of_the_course_cohort_at_the_assignment(
    registration, platform, instructor_of_course
):
    assignment = instructor_of_course
    client = Client()
    spec = Launch(
        sub="learner-1",
        roles=[LEARNER],
        name="Rita Resident",
        custom={"assignment_id": str(assignment.pk)},
        lineitem=platform.lineitem_url("col-1"),
    )
    response, _ = launch(client, platform, spec)
    assert response.status_code == 302
    assert response["Location"] == f"/upload/?assignment={assignment.pk}"
    user = LtiUser.objects.get(sub="learner-1").auth_user
    assert (user.role, user.first_name, user.last_name) == (Role.RESIDENT, "Rita", "Resident")
    assert not user.has_usable_password()  # signs in through the LMS only
    assert user in assignment.cohort.residents.all()
    assert client.get("/").wsgi_request.user == user  # signed in
    link = AssignmentLink.objects.get(assignment=assignment)
    assert link.lineitem_url == platform.lineitem_url("col-1")


@pytest.mark.parametrize(
    "roles, role",
    [
        ([INSTRUCTOR], Role.INSTRUCTOR),
        ([TEACHING_ASSISTANT], Role.INSTRUCTOR),
        (
            ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", LEARNER],
            Role.INSTRUCTOR,
        ),
        ([ADMINISTRATOR], Role.PROGRAM_ADMIN),
        (
            ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"],
            Role.PROGRAM_ADMIN,
        ),
    ],
    ids=[
        "instructor",
        "teaching-assistant",
        "instructor-and-learner",
        "administrator",
        "institution-administrator",
    ],
)
def test_instructor_teaching_assistant_and_administrator_launches(
    registration, platform, roles, role
):
    client = Client()
    response, _ = launch(client, platform, Launch(sub="staff-1", roles=roles))
    user = LtiUser.objects.get(sub="staff-1").auth_user
    assert user.role == role
    assert user.is_staff == (role == Role.PROGRAM_ADMIN)
    cohort = Course.objects.get().cohort
    assert cohort.name == "Abdominal US, block 3"
    assert (user in cohort.instructors.all()) == (role == Role.INSTRUCTOR)
    # a plain link with no assignment yet: the instructor is asked which one it opens
    assert response.status_code == 302
    assert response["Location"].startswith("/lti/links/")


def test_a_launch_with_no_role_that_maps_is_refused_and_makes_no_account(registration, platform):
    users = User.objects.count()
    response, _ = launch(Client(), platform, Launch(sub="mentor-1", roles=[MENTOR]))
    refused(response, "has no place in AbVLM-Q")
    assert User.objects.count() == users


def test_an_instructor_links_a_plain_resource_link_to_an_assignment(registration, platform):
    client = Client()
    response, _ = launch(client, platform, Launch(sub="teacher-1", roles=[INSTRUCTOR]))
    course = Course.objects.get()
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    assignment = Assignment.objects.create(
        cohort=course.cohort,
        title="GB x2",
        target_planes=["GB"],
        scan_count=2,
        min_grade="Good",
        created_by=teacher,
    )
    page = client.get(response["Location"])
    assert "GB x2" in page.content.decode()
    done = client.post(response["Location"], {"assignment": assignment.pk})
    assert done.status_code == 302
    assert AssignmentLink.objects.get().assignment == assignment
    # a learner's launch of the same link now opens it
    learner = Client()
    opened, _ = launch(learner, platform, Launch(sub="learner-2", roles=[LEARNER]))
    assert opened["Location"] == f"/upload/?assignment={assignment.pk}"


# ------------------------------------------------------------------------------ deep linking


def test_deep_linking_returns_a_signed_link_to_the_chosen_assignment(registration, platform):
    client = Client()
    spec = Launch(sub="teacher-1", roles=[INSTRUCTOR], message_type="LtiDeepLinkingRequest")
    response, _ = launch(client, platform, spec)
    assert response["Location"] == "/lti/deep-link/"
    course = Course.objects.get()
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    assignment = Assignment.objects.create(
        cohort=course.cohort,
        title="Right kidney, 3 good",
        target_planes=["RKL"],
        scan_count=3,
        min_grade="Good",
        created_by=teacher,
    )
    page = client.get("/lti/deep-link/")
    assert "Right kidney, 3 good" in page.content.decode()
    answer = client.post("/lti/deep-link/", {"assignment": assignment.pk})
    assert answer.status_code == 200
    action, fields = form_fields(answer.content.decode())
    assert action == f"{platform.url}/deep-link-return"
    message = platform.deep_link_response(fields["JWT"])  # signature, iss and aud checked
    assert (
        message["https://purl.imsglobal.org/spec/lti/claim/message_type"]
        == "LtiDeepLinkingResponse"
    )
    assert message["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-platform-data"
    [item] = message["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["url"] == LAUNCH_URL
    assert item["custom"] == {"assignment_id": str(assignment.pk)}
    assert item["lineItem"]["scoreMaximum"] == 100
    assert item["lineItem"]["label"] == "Right kidney, 3 good"
    # the platform makes the link; a learner's launch of it opens the assignment
    learner = Client()
    spec = Launch(
        sub="learner-3",
        roles=[LEARNER],
        resource_link_id="dl-1",
        custom=item["custom"],
        lineitem=platform.lineitem_url("dl-col"),
    )
    opened, _ = launch(learner, platform, spec)
    assert opened["Location"] == f"/upload/?assignment={assignment.pk}"


def test_a_learner_cannot_deep_link(registration, platform):
    spec = Launch(sub="learner-1", roles=[LEARNER], message_type="LtiDeepLinkingRequest")
    response, _ = launch(Client(), platform, spec)
    refused(response, "Only instructors add AbVLM-Q assignments")


# ----------------------------------------------------------------------------------- roster


def test_roster_sync_adds_and_removes_residents(registration, platform):
    launch(Client(), platform, Launch(sub="teacher-1", roles=[INSTRUCTOR]))
    course = Course.objects.get()
    platform.members["course-1"] = [
        member("teacher-1", INSTRUCTOR),
        member("r1", LEARNER, name="Ann One"),
        member("r2", LEARNER, name="Ben Two"),
        member("r3", LEARNER, name="Cat Three"),
        member("m1", MENTOR),  # no role here: left out
    ]  # five members: three pages of two, which the tool must follow
    result = sync_roster(course.pk)  # the Celery task, run here
    assert sorted(result["added"]) == sorted(
        LtiUser.objects.get(sub=s).auth_user.username for s in ("r1", "r2", "r3")
    )
    assert result["unmapped"] == 1
    residents = set(course.cohort.residents.values_list("first_name", flat=True))
    assert residents == {"Ann", "Ben", "Cat"}
    assert not LtiUser.objects.filter(sub="m1", auth_user__isnull=False).exists()
    # Ben leaves the course, Cat is made inactive
    platform.members["course-1"] = [
        member("teacher-1", INSTRUCTOR),
        member("r1", LEARNER, name="Ann One"),
        member("r3", LEARNER, status="Inactive", name="Cat Three"),
    ]
    result = roster_sync(course=Course.objects.get())
    assert set(course.cohort.residents.values_list("first_name", flat=True)) == {"Ann"}
    assert len(result.removed) == 2
    assert User.objects.filter(first_name="Ben").exists()  # the account (and its scans) stay
    # a token was asked with the roster scope, by an assertion the platform verified
    assert any("contextmembership" in r.get("scope", "") for r in platform.token_requests)


def test_an_instructor_launch_schedules_a_roster_sync(
    registration, platform, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        launch(Client(), platform, Launch(sub="teacher-1", roles=[INSTRUCTOR]))
    assert callbacks, "no roster sync was scheduled"


def test_a_platform_that_does_not_answer_leaves_the_cohort_unchanged(registration, platform):
    launch(Client(), platform, Launch(sub="teacher-1", roles=[INSTRUCTOR]))
    course = Course.objects.get()
    platform.stop()
    with pytest.raises(requests.RequestException):
        roster_sync(course=course)
    assert list(course.cohort.instructors.values_list("username", flat=True)) == [
        LtiUser.objects.get(sub="teacher-1").auth_user.username
    ]


# ----------------------------------------------------------------------------------- grades


def enrol(platform: Platform, assignment: Assignment) -> User:
    """Rita, a learner, launches the assignment's link (its gradebook column col-1)."""
    spec = Launch(
        sub="learner-1",
        roles=[LEARNER],
        custom={"assignment_id": str(assignment.pk)},
        lineitem=platform.lineitem_url("col-1"),
    )
    launch(Client(), platform, spec)
    return LtiUser.objects.get(sub="learner-1").auth_user


@pytest.fixture
def instructor_of_course(registration, platform):
    """An assignment of the course's cohort (the course made by its instructor's launch)."""
    launch(Client(), platform, Launch(sub="teacher-1", roles=[INSTRUCTOR]))
    course = Course.objects.get()
    return Assignment.objects.create(
        cohort=course.cohort,
        title="Gallbladder, 2 good",
        target_planes=["GB"],
        scan_count=2,
        min_grade="Good",
        created_by=LtiUser.objects.get(sub="teacher-1").auth_user,
    )


def test_a_score_is_posted_and_updated_as_the_resident_progresses(
    registration, platform, instructor_of_course
):
    assignment = instructor_of_course
    rita = enrol(platform, assignment)
    first = make_analysis(rita, score=9, assignment=assignment)
    assert post_grades(assignment.pk, rita.pk)["posted"] == [("learner-1", 50.0)]  # the task
    body = platform.scores[-1]["body"]
    assert platform.scores[-1]["lineitem"] == "col-1"
    assert (body["userId"], body["scoreGiven"], body["scoreMaximum"]) == ("learner-1", 50.0, 100.0)
    assert (body["activityProgress"], body["gradingProgress"]) == ("InProgress", "Pending")
    assert "1 of 2 scans of GB at Good or better" in body["comment"]
    # nothing changed: nothing sent
    assert grades_post(assignment=assignment, resident=rita).unchanged == 1
    assert len(platform.scores) == 1
    # a second good scan: complete
    make_analysis(rita, score=8, assignment=assignment)
    grades_post(assignment=assignment, resident=rita)
    body = platform.scores[-1]["body"]
    assert (body["scoreGiven"], body["activityProgress"], body["gradingProgress"]) == (
        100.0,
        "Completed",
        "FullyGraded",
    )
    # the instructor corrects the first scan down to Poor: the result goes down again
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    correct(first, teacher, items=["ATT.severe", "GAIN.high", "DEPTH.wrong"])
    grades_post(assignment=assignment, resident=rita)
    assert platform.scores[-1]["body"]["scoreGiven"] == 50.0
    assert GradePosted.objects.get(resident=rita).score_given == 50.0
    assert len(platform.scores) == 3


def test_a_score_the_platform_refuses_is_sent_again_on_the_next_try(
    registration, platform, instructor_of_course
):
    assignment = instructor_of_course
    rita = enrol(platform, assignment)
    make_analysis(rita, score=9, assignment=assignment)
    platform.refuse_scores = 1  # the gradebook is down once
    with pytest.raises(LtiServiceException):
        grades_post(assignment=assignment, resident=rita)
    assert not GradePosted.objects.exists()  # not recorded as sent
    assert grades_post(assignment=assignment, resident=rita).posted == [("learner-1", 50.0)]
    assert [s["body"]["scoreGiven"] for s in platform.scores] == [50.0]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_result_after_the_assessment_commits(
    registration, platform, instructor_of_course, log_dir
):
    """The whole path with nothing called by hand: the analysis is saved and committed, the
    receiver queues the task on the maintenance queue (Redis), a real Celery worker (its own
    process, make run's maintenance queue) posts the score to the platform."""
    from django.conf import settings

    from tests.web.conftest import wait_until
    from tests.web.live import start_worker

    assignment = instructor_of_course
    rita = enrol(platform, assignment)
    worker = start_worker(log_dir, queue=settings.ABVLMQ_MAINTENANCE_QUEUE)
    try:
        make_analysis(rita, score=9, assignment=assignment)  # committed: the receiver queues
        wait_until(lambda: platform.scores, timeout=60)
        assert platform.scores[0]["body"]["scoreGiven"] == 50.0
        wait_until(lambda: GradePosted.objects.filter(resident=rita).exists(), timeout=30)
    finally:
        worker.stop()


def graded(callbacks) -> list:
    """The callbacks that send a grade (lti/receivers.py), among all run after a commit."""
    return [c for c in callbacks if c.__qualname__.startswith("_schedule.")]


def test_a_finished_analysis_or_a_correction_schedules_the_grade(
    registration, platform, instructor_of_course, django_capture_on_commit_callbacks
):
    assignment = instructor_of_course
    rita = enrol(platform, assignment)
    with django_capture_on_commit_callbacks() as callbacks:
        analysis = make_analysis(rita, score=9, assignment=assignment)
    assert len(graded(callbacks)) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        make_analysis(rita, score=9)  # no assignment: no gradebook
    assert graded(callbacks) == []
    teacher = LtiUser.objects.get(sub="teacher-1").auth_user
    with django_capture_on_commit_callbacks() as callbacks:
        correct(analysis, teacher, items=["ATT.severe"])
    assert len(graded(callbacks)) == 1  # beside the resident's notification


# ---------------------------------------------------------------------------- refused cases


def test_a_launch_signed_by_another_key_is_refused(registration, platform):
    forged_key, _ = _key()
    spec = Launch(sub="learner-9", roles=[LEARNER], signing_key=forged_key)  # the platform's kid
    response, _ = launch(Client(), platform, spec)
    refused(response, "signature is not the platform")
    assert not LtiUser.objects.filter(sub="learner-9").exists()


def test_an_expired_launch_is_refused(registration, platform):
    response, _ = launch(Client(), platform, Launch(sub="learner-9", roles=[LEARNER], exp_in=-60))
    refused(response, "This launch has expired")
    assert not LtiUser.objects.filter(sub="learner-9").exists()


def test_a_replayed_launch_is_refused(registration, platform):
    client = Client()
    response, fields = launch(client, platform, Launch(sub="learner-9", roles=[LEARNER]))
    assert response.status_code == 302
    again = client.post("/lti/launch/", fields)  # the same form, posted again
    refused(again, "This launch was used already")
    # from another browser too (pylti1p3 marks a used state valid for any browser, for LMSs
    # that re-post a launch in a new window: the nonce, used once, is what refuses it)
    refused(Client().post("/lti/launch/", fields), "This launch was used already")


def test_a_launch_posted_by_another_browser_than_the_one_that_logged_in_is_refused(
    registration, platform
):
    platform.launches["learner-8"] = Launch(sub="learner-8", roles=[LEARNER])
    # a fresh id_token for a login started in browser A, posted by browser B
    a = Client()
    start = a.get(
        "/lti/login/",
        {
            "iss": platform.issuer,
            "login_hint": "learner-8",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
        },
    )
    _, fields = form_fields(requests.get(start["Location"], timeout=10).text)
    refused(Client().post("/lti/launch/", fields), "does not match a login started")
    assert not LtiUser.objects.filter(sub="learner-8").exists()  # no account made
    assert a.post("/lti/launch/", fields).status_code == 302  # browser A's own launch still works


def test_a_launch_for_another_client_is_refused(registration, platform):
    spec = Launch(sub="learner-9", roles=[LEARNER], claims={"aud": "another-tool"})
    response, _ = launch(Client(), platform, spec)
    refused(response, "This LMS is not registered here")
    assert not LtiUser.objects.filter(sub="learner-9").exists()


def test_a_launch_with_another_state_is_refused(registration, platform):
    response, _ = launch(
        Client(),
        platform,
        Launch(sub="learner-9", roles=[LEARNER]),
        tamper=lambda f: {**f, "state": "state-not-mine"},
    )
    refused(response, "does not match a login started from this browser")
    assert not LtiUser.objects.filter(sub="learner-9").exists()


def test_a_launch_with_a_nonce_this_tool_never_issued_is_refused(registration, platform):
    spec = Launch(sub="learner-9", roles=[LEARNER], claims={"nonce": "made-up"})
    response, _ = launch(Client(), platform, spec)
    refused(response, "nonce was not issued here")


def test_a_launch_from_an_inactive_deployment_is_refused(registration, platform):
    LtiDeployment.objects.update(is_active=False)
    response, _ = launch(Client(), platform, Launch(sub="learner-9", roles=[LEARNER]))
    refused(response, "deployment is not active here yet")
    assert not User.objects.filter(lti_users__sub="learner-9").exists()
    assert not Cohort.objects.exists()


def test_a_launch_from_an_unregistered_platform_is_refused(registration, platform):
    LtiRegistration.objects.update(issuer="https://elsewhere.example")
    response = Client().get(
        "/lti/login/",
        {
            "iss": platform.issuer,
            "login_hint": "x",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
        },
    )
    assert response.status_code == 400
    assert "not registered here" in response.content.decode()


def test_the_token_endpoint_refuses_an_assertion_not_signed_by_the_tool(registration, platform):
    """The test platform's own check (what makes the score tests mean something)."""
    import jwt as pyjwt

    forged_key, _ = _key()
    assertion = pyjwt.encode(
        {
            "iss": platform.client_id,
            "sub": platform.client_id,
            "aud": platform.token_url,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "jti": "x",
        },
        forged_key,
        algorithm="RS256",
        headers={"kid": platform.tool_jwks["keys"][0]["kid"]},
    )
    answer = requests.post(
        platform.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "x",
        },
        timeout=10,
    )
    assert answer.status_code == 401
