from django.contrib.auth import views as auth_views
from django.urls import path

from abvlmq_web.accounts.services import token_revoke


class LogoutView(auth_views.LogoutView):
    """Logging out of the site also revokes the user's API token."""

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            token_revoke(user=request.user)
        return super().post(request, *args, **kwargs)


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
]
