from django.contrib import admin

from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan


class AnalysisInline(admin.StackedInline):
    model = Analysis
    extra = 0
    readonly_fields = ("status", "model_id", "rubric_version", "score", "grade", "attempts")


@admin.register(Scan)
class ScanAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "assignment", "created_at")
    list_filter = ("kind",)
    inlines = [AnalysisInline]


@admin.register(AnalysisEvent)
class AnalysisEventAdmin(admin.ModelAdmin):
    list_display = ("analysis", "seq", "type", "created_at")
    list_filter = ("type",)
    # the AI's event log is a record of what a resident was shown: read-only to everyone,
    # superusers included (issue 32); it goes with its analysis, never alone
    readonly_fields = ("analysis", "seq", "type", "payload", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
