from django.apps import AppConfig


class LtiConfig(AppConfig):
    name = "abvlmq_web.lti"
    label = "lti"
    verbose_name = "LTI 1.3 (courses in an LMS)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # a scan assessed or a correction saved can change a resident's assignment result,
        # which the course's gradebook then receives (lti/receivers.py)
        from abvlmq_web.lti import receivers  # noqa: F401
