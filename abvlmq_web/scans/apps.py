from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "abvlmq_web.scans"
    label = "scans"
    verbose_name = "Scans and analyses"
