from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from abvlmq_web.accounts.models import Cohort, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Role", {"fields": ("role",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Role", {"fields": ("role",)}))
    list_display = ("username", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active")


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    filter_horizontal = ("instructors", "residents")
    search_fields = ("name",)
