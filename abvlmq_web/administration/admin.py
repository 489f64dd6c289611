from django.contrib import admin

from abvlmq_web.administration.models import ModelVersion, RubricVersion


@admin.register(RubricVersion)
class RubricVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "name", "is_active", "created_at", "activated_at")
    readonly_fields = ("version", "text", "is_active", "activated_at", "activated_by")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "base_path", "adapter_path", "is_active", "activated_at")
    readonly_fields = ("is_active", "activated_at", "activated_by")
