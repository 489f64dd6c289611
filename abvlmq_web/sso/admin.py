from django.contrib import admin

from abvlmq_web.sso.models import ClaimRule


@admin.register(ClaimRule)
class ClaimRuleAdmin(admin.ModelAdmin):
    list_display = ("provider", "claim", "value", "role", "cohort")
    list_filter = ("provider", "role")
    search_fields = ("value",)
