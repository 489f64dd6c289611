from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "abvlmq_web.core"
    label = "core"
    verbose_name = "Shared ground of the apps (no models)"
