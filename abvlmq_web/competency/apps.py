from django.apps import AppConfig


class CompetencyConfig(AppConfig):
    name = "abvlmq_web.competency"
    label = "competency"
    verbose_name = "Competency records"
