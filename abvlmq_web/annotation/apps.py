from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "abvlmq_web.annotation"
    label = "annotation"
    verbose_name = "Annotation campaigns: two readers and an adjudicator"
