from django.apps import AppConfig


class AdministrationConfig(AppConfig):
    name = "abvlmq_web.administration"
    label = "administration"
    verbose_name = "Rubric and model administration"
