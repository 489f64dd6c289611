"""A scan assessed, or a correction saved, can change its resident's result on the scan's
assignment: when the assignment is linked to an LMS line item, the result is sent (Celery,
after the transaction commits). The lower apps know nothing of LTI: the signals are Django's."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from abvlmq_web.lti.services import linked
from abvlmq_web.lti.tasks import post_grades
from abvlmq_web.review.models import Correction
from abvlmq_web.scans.models import Analysis


def _schedule(scan) -> None:
    if scan.assignment_id is None or not linked(assignment_id=scan.assignment_id):
        return

    assignment_id, resident_id = scan.assignment_id, scan.owner_id
    transaction.on_commit(lambda: post_grades.delay(assignment_id, resident_id))


@receiver(post_save, sender=Analysis, dispatch_uid="lti-analysis-done")
def _analysis_saved(sender, instance: Analysis, **kwargs) -> None:
    if instance.status == Analysis.Status.DONE:
        _schedule(instance.scan)


@receiver(post_save, sender=Correction, dispatch_uid="lti-correction-saved")
def _correction_saved(sender, instance: Correction, **kwargs) -> None:
    _schedule(instance.analysis.scan)
