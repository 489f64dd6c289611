"""Annotation campaigns (issue 33, items 1-3): two readers and an adjudicator per scan.

The interface other apps read (the datasets app, above this one, freezes final records into
versions); it is kept stable:

- ``models.Campaign``: ``name``, ``created_by``, ``readers`` (many-to-many, exactly two users),
  ``adjudicator`` (a user), ``start_from`` ("model" | "blank"), ``source`` ("archive" |
  "import") and ``source_detail`` (the filter, or the import's counts), ``rubric_version`` (the
  rubric the readers score by), ``created_at``, ``closed``.
- ``models.CampaignScan``: ``campaign``, ``scan`` (``scans.Scan``), ``state`` ("reading" |
  "agreed" | "disputed" | "adjudicated"), ``final_answer`` (null until agreed or adjudicated),
  ``final_at``, ``adjudicated_by`` (null unless adjudicated), ``comparison`` (how the two
  records compared: ``agree``, ``reasons`` in words, ``ious`` per structure, ``unmatched``).
- ``models.ReaderRecord``: ``campaign_scan``, ``reader``, ``started_from`` ("model" | "blank",
  per record: a campaign that starts from the model gives a blank image where the model had no
  answer), ``started_model`` (the model's id), ``answer`` (null until submitted),
  ``submitted_at``; one per (campaign_scan, reader).
- An *answer* (``ReaderRecord.answer``, ``CampaignScan.final_answer``) is what review stores a
  correction as: ``{"planes": [...], "structures": [{"id", "box"}], "deductions": [{"item",
  "reason", "box"}], "score", "grade", "rubric_version"}``, boxes on the 0-1000 grid, valid by
  ``review.assessments.clean_answer`` (every key structure boxed or deducted; the annotation
  record check).
- ``selectors.final_records(campaigns=None)``: the CampaignScans whose final answer is set,
  scan and campaign joined, by ``final_at``.

The rule for agreement and the consensus: ``agreement.py``. Who sees what: ``selectors.py``.
"""
