from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "abvlmq_web.progress"
    label = "progress"
    verbose_name = "Progress and self-assessment"
