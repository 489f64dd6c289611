"""`manage.py seed_demo --images DIR [--assess]`: a demo cohort for `make run`.

One program admin, one instructor, two residents (credentials printed), one assignment, and the
PNG scans in DIR uploaded through the upload service, as the residents. With --assess they are
assessed here and now (the engine loads in this process); otherwise the worker assesses them.
Running it again changes nothing that exists.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.services import cohort_create, user_create
from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.scans.analysis import analyses_dispatch, analysis_run
from abvlmq_web.scans.models import Scan
from abvlmq_web.scans.services import scan_upload

PEOPLE = [
    # username, password, role, first, last
    ("admin", "admin-demo-1", "program_admin", "Pat", "Admin"),
    ("ines", "ines-demo-1", "instructor", "Ines", "Instructor"),
    ("rosa", "rosa-demo-1", "resident", "Rosa", "Resident"),
    ("ravi", "ravi-demo-1", "resident", "Ravi", "Resident"),
]


class Command(BaseCommand):
    help = "Seed a demo cohort with a few phantom scans."

    def add_arguments(self, parser):
        parser.add_argument("--images", type=Path, help="folder of PNG scans to upload")
        parser.add_argument("--count", type=int, default=4, help="at most this many scans")
        parser.add_argument("--assess", action="store_true", help="assess them here and now")

    def handle(self, *args, images: Path | None, count: int, assess: bool, **options):
        users = {}
        for username, password, role, first, last in PEOPLE:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username,
                    password=password,
                    role=role,
                    first_name=first,
                    last_name=last,
                )
            users[username] = user
        cohort = Cohort.objects.filter(name="Demo cohort").first() or cohort_create(
            name="Demo cohort",
            instructors=[users["ines"]],
            residents=[users["rosa"], users["ravi"]],
        )
        assignment = Assignment.objects.filter(cohort=cohort).first() or assignment_create(
            created_by=users["ines"],
            cohort=cohort,
            title="Gallbladder and pancreas basics",
            instructions="Show the whole gallbladder, neck to fundus; the pancreas head to tail.",
            target_planes=["GB", "PAN"],
            scan_count=3,
            min_grade="Good",
            due_date=timezone.localdate() + dt.timedelta(days=14),
        )
        if not cohort.requirement_sets.exists():
            requirement_set_save(
                user=users["admin"],
                name="Demo cohort: first month",
                description="The demo cohort's first month: GB and PAN, 3 scans each at Good "
                "or better, 1 of them instructor verified; RKL, 2 at Good or better, none "
                "verified.",
                requirements=[
                    {"plane": "GB", "min_count": 3, "min_grade": "Good", "verified_count": 1},
                    {"plane": "PAN", "min_count": 3, "min_grade": "Good", "verified_count": 1},
                    {"plane": "RKL", "min_count": 2, "min_grade": "Good", "verified_count": 0},
                ],
                cohorts=[cohort],
            )
        residents = [users["rosa"], users["ravi"]]
        if images and not Scan.objects.filter(owner__in=residents).exists():
            paths = sorted(images.glob("*.png"))[:count]
            scans = [
                scan_upload(
                    user=residents[i % 2], file=p.open("rb"), assignment=assignment, queue=False
                )
                for i, p in enumerate(paths)
            ]
            for scan in scans:
                self._assess(scan, inline=assess)
            self.stdout.write(f"seeded {len(scans)} phantom scans")
        self.stdout.write("Demo accounts (username / password / role):")
        for username, password, role, *_ in PEOPLE:
            self.stdout.write(f"  {username:<6} {password:<14} {role}")

    def _assess(self, scan: Scan, *, inline: bool) -> None:
        if inline:
            try:
                analysis_run(analysis_id=scan.analysis.pk)
                return
            except Exception as exc:  # no model yet: leave it to the worker
                self.stderr.write(f"could not assess scan {scan.pk} here ({exc}); queued instead")
        analyses_dispatch(owner_id=scan.owner_id)  # the sweeper retries when the broker is down
