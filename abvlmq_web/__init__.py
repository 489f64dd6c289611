"""The AbVLM-Q web platform (Django). Imports scoring/, never trainer/."""

from abvlmq_web.celery import app as celery_app

__all__ = ["celery_app"]
