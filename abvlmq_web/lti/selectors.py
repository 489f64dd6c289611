"""Reads for the LTI set-up page: each platform registration, its deployments and what they
have done here (courses linked, the last roster sync and its error)."""

from __future__ import annotations

from dataclasses import dataclass

from lti_tool.models import LtiDeployment, LtiRegistration

from abvlmq_web.lti.models import Course


@dataclass(frozen=True)
class DeploymentState:
    deployment: LtiDeployment
    courses: int
    last_sync: object | None
    last_error: str


def registrations() -> list[tuple[LtiRegistration, list[DeploymentState]]]:
    out = []
    for reg in LtiRegistration.objects.order_by("name", "pk"):
        states = []
        for dep in LtiDeployment.objects.filter(registration=reg).order_by("deployment_id"):
            courses = list(
                Course.objects.filter(context__deployment=dep).order_by("-roster_synced_at")
            )
            synced = [c for c in courses if c.roster_synced_at]
            errors = [c.roster_error for c in courses if c.roster_error]
            states.append(
                DeploymentState(
                    dep, len(courses), synced[0].roster_synced_at if synced else None,
                    errors[0] if errors else "",
                )
            )  # fmt: skip
        out.append((reg, states))
    return out
