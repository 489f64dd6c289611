from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path

from abvlmq_web.accounts.services import token_revoke
from abvlmq_web.sso.selectors import institutions


class LoginView(auth_views.LoginView):
    """The password form (where ABVLMQ_LOCAL_LOGIN allows it) and a button per institution."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["institutions"] = institutions(self.request)
        context["local_login"] = settings.ABVLMQ_LOCAL_LOGIN
        return context


class LogoutView(auth_views.LogoutView):
    """Logging out of the site also revokes the user's API token."""

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            token_revoke(user=request.user)
        return super().post(request, *args, **kwargs)


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    # Password reset by email (Django's views and token generator; the templates are ours).
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
