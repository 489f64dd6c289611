"""Token login (django-axes lockout, throttled, expiring tokens), logout, the current user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.accounts.services import token_issue, token_revoke
from abvlmq_web.throttling import AnonThrottle, LoginThrottle


class TokenObtainApi(ObtainAuthToken):
    """POST username and password, get the token for `Authorization: Token <token>`.

    The token expires after ABVLMQ_TOKEN_TTL_HOURS; a locked-out username gets 429."""

    throttle_classes = [AnonThrottle, LoginThrottle]

    class TokenSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=ObtainAuthToken.serializer_class,
        responses={200: TokenSerializer},
        operation_id="auth_token_create",
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request it refused (the DRF request: axes sees that one)
            if getattr(request, "axes_locked_out", False):
                return Response(
                    {"detail": "Too many failed logins: this account is locked for a while."},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        token = token_issue(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class TokenRevokeApi(APIView):
    """POST: the caller's token stops working (log out an API client)."""

    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout")
    def post(self, request):
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    class MeSerializer(serializers.Serializer):
        class MeCohortSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()

        id = serializers.IntegerField()
        username = serializers.CharField()
        display_name = serializers.CharField()
        role = serializers.CharField()
        cohorts = MeCohortSerializer(many=True)

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request):
        user = request.user
        data = {
            "id": user.pk,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "cohorts": list(visible_cohorts(user=user).values("id", "name")),
        }
        return Response(self.MeSerializer(data).data)
