from django.apps import AppConfig


class CurriculumConfig(AppConfig):
    name = "abvlmq_web.curriculum"
    label = "curriculum"
    verbose_name = "Curriculum"
