from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "abvlmq_web.datasets"
    label = "datasets"
    verbose_name = "Dataset versions, training runs and their evaluation"

    def ready(self) -> None:
        # the web process sends run_training by name (training.run_send): register it here
        from abvlmq_web.datasets import tasks  # noqa: F401
