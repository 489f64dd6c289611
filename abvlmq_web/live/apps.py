from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "abvlmq_web.live"
    label = "live"
    verbose_name = "Live scanning"
