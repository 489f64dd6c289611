from django.apps import AppConfig


class ReceivingConfig(AppConfig):
    name = "abvlmq_web.receiving"
    label = "receiving"
    verbose_name = "Scans received from scanners (DICOM)"
