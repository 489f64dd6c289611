from django.contrib import admin

from abvlmq_web.curriculum.models import Assignment


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("title", "cohort", "scan_count", "min_grade", "due_date")
    list_filter = ("cohort",)
