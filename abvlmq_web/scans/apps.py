from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "abvlmq_web.scans"
    label = "scans"
    verbose_name = "Scans and analyses"

    def ready(self) -> None:
        # Registers the Celery tasks in every process (web, worker, shell): scans/analysis.py
        # sends ``run_analysis`` by its registry name and does not import tasks.py.
        from abvlmq_web.scans import tasks  # noqa: F401
