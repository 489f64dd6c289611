"""Which role an LTI launch or a roster entry gives here (pure: no database).

LTI 1.3 roles are URIs (https://www.imsglobal.org/spec/lti/v1p3/#role-vocabularies); a roster
(NRPS) may also send the short forms ("Learner"). Context roles are the course's; institution
roles are the LMS account's. The mapping, by the program's rule:

- context or institution Administrator -> program admin
- Instructor, and its sub-role TeachingAssistant -> instructor
- Learner -> resident

The highest applies (a Learner who is also an Instructor of the course is an instructor). Any
other role alone (Mentor, ContentDeveloper, Guest, a system role) gives no role here: such a
launch is refused, and such a roster entry is left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from abvlmq_web.accounts.models import Role

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person"
_RANK = {Role.RESIDENT: 1, Role.INSTRUCTOR: 2, Role.PROGRAM_ADMIN: 3}


def _one(role: str) -> Role | None:
    role = role.strip()
    if role.startswith(f"{MEMBERSHIP}/"):  # a sub-role: membership/Instructor#TeachingAssistant
        principal, _, sub = role[len(MEMBERSHIP) + 1 :].partition("#")
        name = "Instructor" if sub == "TeachingAssistant" else principal
    elif role.startswith(f"{MEMBERSHIP}#"):
        name = role[len(MEMBERSHIP) + 1 :]
    elif role.startswith(f"{INSTITUTION}#"):
        name = role[len(INSTITUTION) + 1 :]
        if name != "Administrator":  # institution Faculty or Student: not a course role
            return None
    elif "/" not in role and "#" not in role:  # a short context role: "Learner"
        name = role
    else:
        return None
    return {
        "Administrator": Role.PROGRAM_ADMIN,
        "Instructor": Role.INSTRUCTOR,
        "TeachingAssistant": Role.INSTRUCTOR,
        "Learner": Role.RESIDENT,
    }.get(name)


def role_for(roles: Iterable[str]) -> Role | None:
    """The role LTI ``roles`` give here, or None when none of them maps."""
    found = [r for r in (_one(x) for x in roles if isinstance(x, str)) if r is not None]
    return max(found, key=_RANK.__getitem__) if found else None
