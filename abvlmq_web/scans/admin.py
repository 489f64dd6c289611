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
