"""Admin for the LTI side: django-lti registers the registrations (their deployments inline,
which a program admin activates); here are the LMS users (to link one to an account by hand),
the course-to-cohort links (roster sync), the resource-link-to-assignment links (results sent
again) and the results sent."""

from django.contrib import admin, messages
from lti_tool.models import LtiUser

from abvlmq_web.lti.models import AssignmentLink, Course, GradePosted
from abvlmq_web.lti.services import grades_post, roster_sync


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("context", "cohort", "roster_synced_at", "roster_error")
    readonly_fields = ("roster_synced_at", "roster_error")
    actions = ["sync_now"]

    @admin.action(description="Sync the roster from the LMS now")
    def sync_now(self, request, queryset):
        for course in queryset.select_related("context", "cohort"):
            try:
                result = roster_sync(course=course)
            except Exception as exc:
                course.roster_error = f"{type(exc).__name__}: {exc}"[:2000]
                course.save(update_fields=["roster_error"])
                self.message_user(request, f"{course}: {course.roster_error}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{course.cohort}: {len(result.added)} added, {len(result.removed)} removed, "
                f"{result.unmapped} with no role here.",
            )


@admin.register(AssignmentLink)
class AssignmentLinkAdmin(admin.ModelAdmin):
    list_display = ("resource_link", "assignment", "lineitem_url")
    actions = ["post_now"]

    @admin.action(description="Send the residents' results to the LMS now")
    def post_now(self, request, queryset):
        sent = 0
        for link in queryset.select_related("assignment__cohort"):
            for resident in link.assignment.cohort.residents.all():
                try:
                    sent += len(grades_post(assignment=link.assignment, resident=resident).posted)
                except Exception as exc:
                    self.message_user(request, f"{resident}: {exc}", messages.ERROR)
        self.message_user(request, f"{sent} results sent.")


@admin.register(GradePosted)
class GradePostedAdmin(admin.ModelAdmin):
    list_display = ("link", "resident", "score_given", "score_maximum", "posted_at")
    readonly_fields = ("link", "resident", "score_given", "score_maximum", "posted_at")


@admin.register(LtiUser)
class LtiUserAdmin(admin.ModelAdmin):
    """LMS users as launches and rosters have seen them; "auth user" links one to an existing
    account by hand (accounts are never linked by email)."""

    list_display = ("name", "email", "registration", "sub", "auth_user")
    list_filter = ("registration",)
    search_fields = ("name", "email", "sub")
    raw_id_fields = ("auth_user",)
    readonly_fields = ("registration", "sub", "given_name", "family_name", "name", "email")
    fields = (*readonly_fields, "auth_user")
