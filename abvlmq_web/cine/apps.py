from django.apps import AppConfig


class CineConfig(AppConfig):
    name = "abvlmq_web.cine"
    label = "cine"
    verbose_name = "Cine clips"
