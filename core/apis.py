"""POST /api/v1/auth/token/: a user name and password for the user's API token. Open to
anonymous callers by nature, so throttled (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
["auth_token"], per client address, every attempt counted) and under the same sign-in
lock as the pages (django-axes: its failures count towards it, and a locked user name and
address gets 429)."""

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.addresses import ClientAddressScopedRateThrottle
from core.rest import error_responses
from core.rest_fields import StrictCharField
from core.services import api_token_issue
from core.views import sign_in_locked_out


class TokenObtainSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class TokenObtainApi(APIView):
    # No authentication: a session cookie must not make this a CSRF-checked call, and a
    # stale token header must not turn a good password into a 401.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressScopedRateThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        operation_id="auth_token_obtain",
        summary="Get an API token",
        description="The user's token, created on first use (also issued in the admin, "
        "under Auth Token, and by `manage.py issue_api_token <username>`).",
        tags=["auth"],
        auth=[],
        request=TokenObtainSerializer,
        responses={
            200: TokenSerializer,
            **error_responses(
                400, 429, public=True, refused_when="the user name or password is wrong"
            ),
        },
    )
    def post(self, request):
        data = TokenObtainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None and getattr(request, "axes_locked_out", False):
            # Axes marked DRF's request, which its middleware does not see: answer here.
            credentials = getattr(request, "axes_credentials", None)
            return sign_in_locked_out(request, credentials=credentials)
        if user is None:
            raise ValidationError(_("Unable to sign in with this user name and password."))
        token = api_token_issue(user=user, actor=Actor.of_user(user))
        return Response(TokenSerializer({"token": token.key}).data)
