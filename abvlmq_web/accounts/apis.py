"""Token login and the current user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.selectors import visible_cohorts


class TokenObtainApi(ObtainAuthToken):
    """POST username and password, get the token for `Authorization: Token <token>`."""

    class TokenSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=ObtainAuthToken.serializer_class,
        responses={200: TokenSerializer},
        operation_id="auth_token_create",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


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
