from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "abvlmq_web.operations"
    label = "operations"
    verbose_name = "Operations: health, readiness and metrics"
