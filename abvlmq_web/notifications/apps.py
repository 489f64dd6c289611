from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "abvlmq_web.notifications"
    label = "notifications"
    verbose_name = "Notifications in the app and by email"
