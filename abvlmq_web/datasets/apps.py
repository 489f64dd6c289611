from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "abvlmq_web.datasets"
    label = "datasets"
    verbose_name = "Dataset versions, training runs and their evaluation"
