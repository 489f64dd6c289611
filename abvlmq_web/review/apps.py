from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "abvlmq_web.review"
    label = "review"
    verbose_name = "Instructor review and corrections"
