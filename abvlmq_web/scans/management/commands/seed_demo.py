"""`manage.py seed_demo --images DIR [--assess] [--examples DIR]`: a demo cohort for `make run`.

One program admin, one instructor, two residents (credentials printed), one assignment, a
requirement set, and the PNG scans in DIR uploaded through the upload service, as the
residents. With --assess they are assessed here and now (the engine loads in this process);
otherwise the worker assesses them. With --examples (a folder of Excellent phantoms and their
annotations.jsonl, ``python -m trainer phantoms --excellent-per-plane``), each is uploaded as a
scan of the library's own account, assessed, reviewed by the program admin to its truth and
published to every cohort, so the example library is never empty (needs --assess: a review
needs a finished analysis). Running it again changes nothing that exists.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from io import BytesIO
from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.services import cohort_create, user_create
from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.progress.models import TeachingExample
from abvlmq_web.progress.services import example_publish
from abvlmq_web.review.services import correction_create
from abvlmq_web.scans.analysis import analyses_dispatch, analysis_run
from abvlmq_web.scans.models import Scan
from abvlmq_web.scans.services import scan_upload
from scoring.boxes import to_norm
from scoring.records import check_record
from scoring.rubric import default_rubric

LIBRARY = "examples"  # the account that owns the library's phantom scans (no password)
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
        parser.add_argument("--examples", type=Path, help="Excellent phantoms to publish")
        parser.add_argument("--assess", action="store_true", help="assess them here and now")

    def handle(
        self, *args, images: Path | None, count: int, assess: bool, examples=None, **options
    ):
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
                "or better; RKL, 2 at Good or better; each confirmed or corrected by an "
                "instructor (the AI's own grades wait for verification).",
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
        if examples is not None and assess:
            self._examples(examples, users["admin"])
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

    def _examples(self, folder: Path, admin: User) -> None:
        """The example library's phantoms: uploaded (intake de-identifies them), assessed,
        reviewed to their truth by the program admin, published to every cohort."""

        if TeachingExample.objects.exists() or not (folder / "annotations.jsonl").is_file():
            return
        library = User.objects.filter(username=LIBRARY).first()
        if library is None:
            library = user_create(
                username=LIBRARY,
                password=secrets.token_urlsafe(24),
                role="resident",
                first_name="Example",
                last_name="Library",
            )
            library.set_unusable_password()  # an owner of scans, never a login
            library.save(update_fields=["password"])
        rubric = default_rubric()
        published = 0
        for line in (folder / "annotations.jsonl").read_text().splitlines():
            record, problems = check_record(json.loads(line), rubric)
            if record is None or problems:
                continue
            data = (folder / record.image).read_bytes()
            scan = scan_upload(user=library, file=BytesIO(data), queue=False)
            try:
                analysis_run(analysis_id=scan.analysis.pk)
            except Exception as exc:  # no model here: the library waits for the next seed
                self.stderr.write(f"could not assess example {record.image}: {exc}")
                return
            scan.refresh_from_db()
            raw = scan.intake.get("crop_box") or f"0,0,{record.width},{record.height}"
            crop = [int(v) for v in str(raw).split(",")]  # "x1,y1,x2,y2" in the phantom's pixels
            scale = float(scan.intake.get("downscale") or 1.0)

            def stored(box, crop=crop, scale=scale, scan=scan):
                x1, y1, x2, y2 = box  # the phantom's pixels -> the stored image's, then 0-1000
                px = [(x1 - crop[0]) / scale, (y1 - crop[1]) / scale]
                px += [(x2 - crop[0]) / scale, (y2 - crop[1]) / scale]
                return list(to_norm(tuple(round(v) for v in px), scan.width, scan.height))

            correction_create(
                reviewer=admin,
                analysis=scan.analysis,
                planes=list(record.planes),
                structures=[{"id": s.id, "box": stored(s.box)} for s in record.structures],
                deductions=[],
                note="A phantom with nothing to deduct: an example of its plane.",
            )
            example_publish(user=admin, scan=scan, plane=record.planes[0], cohort=None)
            published += 1
        self.stdout.write(f"published {published} phantom examples to the example library")
