from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "abvlmq_web.accounts"
    label = "accounts"
    verbose_name = "Accounts and cohorts"
