"""What every endpoint of the REST API shares: the one error shape and the exception
handler that produces it, role permissions, pagination, and schema helpers.

Every error the API answers, whatever raised it, is

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {...}}}

`fields` maps a request field to its messages (400 only; "non_field_errors" for the
request as a whole) and is empty otherwise. Status codes:

- 400 invalid input (a serializer's or a service's ValidationError);
- 401 no or bad credentials (with "WWW-Authenticate: Token");
- 402 the card was declined (PaymentDeclined; the order stays open);
- 403 signed in without the role (core.roles), or a session call without its CSRF token;
- 404 no such object;
- 409 the object's state forbids the action (core.errors.Conflict), and a charge whose
  outcome the gateway did not confirm (PaymentOutcomeUnknown, code "payment_unknown":
  submit again to look it up; nothing is charged twice);
- 429 throttled (with Retry-After);
- 503 the payment gateway did not answer while tokenizing a card (GatewayUnavailable,
  with Retry-After): nothing was stored, try again.
"""

from __future__ import annotations

import math

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from core.errors import ServiceError
from core.roles import can_supervise, can_take_orders, can_work_warehouse

NON_FIELD_ERRORS = "non_field_errors"


# --- The error shape ---------------------------------------------------------------------


class ErrorBodySerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(
        help_text=(
            "Machine-readable: invalid, parse_error, not_authenticated, "
            "authentication_failed, payment_declined, permission_denied, not_found, "
            "method_not_allowed, not_acceptable, conflict, payment_unknown, "
            "unsupported_media_type, throttled, gateway_unavailable, server_error."
        )
    )
    message = serializers.CharField(help_text="For people, in the request's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by request field (400); non_field_errors for the whole request.",
    )
    decline_code = serializers.CharField(
        required=False, help_text="402 only: the gateway's decline code, e.g. insufficient_funds."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input: messages by field in error.fields.",
    401: "No credentials, or bad ones.",
    402: "The card was declined; the order stays open and nothing was charged.",
    403: "The signed-in user's role does not allow this.",
    404: "Not found.",
    409: "The object's state forbids this, or a charge awaits confirmation (payment_unknown).",
    429: "Too many requests: wait for Retry-After seconds.",
    503: "The payment service did not answer: nothing was stored; try again.",
}


REFUSED_BY_A_RULE = "A request the schema allows is still refused when"


def error_responses(
    *codes: int, public: bool = False, refused_when: str = ""
) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, for @extend_schema(responses=...): the given
    codes, plus 401 and 403 unless the operation is open to anonymous callers.

    `refused_when` names the rules no JSON Schema can state (an account number that does
    not exist, a card number failing Luhn) for which a request the schema allows still
    gets a 400: its description says so."""
    wanted = set(codes) if public else {*codes, 401, 403}
    descriptions = dict(ERROR_DESCRIPTIONS)
    if refused_when:
        descriptions[400] = f"{ERROR_DESCRIPTIONS[400]} {REFUSED_BY_A_RULE} {refused_when}."
    return {
        code: OpenApiResponse(ErrorSerializer, description=descriptions[code])
        for code in sorted(wanted)
    }


def error_body(
    *, status_code: int, code: str, message: str, fields: dict | None = None, **extra
) -> dict:
    return {
        "error": {
            "status": status_code,
            "code": code,
            "message": str(message),
            "fields": fields or {},
            **extra,
        }
    }


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error detail (nested dicts and lists) as {"field": ["message", ...]}, with
    nested fields named "outer.inner"."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = NON_FIELD_ERRORS if key in ("__all__", NON_FIELD_ERRORS) else str(key)
            for sub_key, messages in _flatten(value, f"{prefix}{name}.").items():
                fields.setdefault(sub_key, []).extend(messages)
    elif isinstance(detail, list):
        for value in detail:
            if isinstance(value, dict | list):
                for sub_key, messages in _flatten(value, prefix).items():
                    fields.setdefault(sub_key, []).extend(messages)
            else:
                fields.setdefault(prefix.rstrip(".") or NON_FIELD_ERRORS, []).append(str(value))
    else:
        fields.setdefault(prefix.rstrip(".") or NON_FIELD_ERRORS, []).append(str(detail))
    return fields


def _django_validation_fields(error: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            NON_FIELD_ERRORS if field == "__all__" else field: list(messages)
            for field, messages in error.message_dict.items()
        }
    return {NON_FIELD_ERRORS: list(error.messages)}


def _first_message(fields: dict[str, list[str]]) -> str:
    """What a person reads first: the request-wide message, else the first field's."""
    for messages in [fields.get(NON_FIELD_ERRORS, []), *fields.values()]:
        if messages:
            return messages[0]
    return _("Invalid input.")


def _invalid_body(fields: dict[str, list[str]]) -> dict:
    return error_body(
        status_code=400, code="invalid", message=_first_message(fields), fields=fields
    )


def exception_handler(exc, context) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception an API view lets out becomes
    the one error shape, and the request's transaction (if any) is rolled back. Anything
    unexpected is left to Django (a 500, logged), whose handler500
    (core.views.server_error) answers API paths in the same shape."""
    answer = _error_answer(exc)
    if answer is None:
        return None
    status_code, body, headers = answer
    set_rollback()
    return Response(body, status=status_code, headers=headers)


def _error_answer(exc) -> tuple[int, dict, dict] | None:
    """(status, body, headers) for an exception the API knows, else None."""
    if isinstance(exc, DjangoValidationError):
        fields = _django_validation_fields(exc)
        return 400, _invalid_body(fields), {}
    if isinstance(exc, exceptions.ValidationError):
        return 400, _invalid_body(_flatten(exc.detail)), {}
    if isinstance(exc, ServiceError):
        # Each refusal says its own status (core.errors.ServiceError): 409 by default
        # (Conflict, PaymentOutcomeUnknown "payment_unknown", any refusal that the state
        # of things forbids), 404 NotFound, 402 a declined card, 503 the gateway silent.
        body = error_body(
            status_code=exc.http_status,
            code=exc.code,
            message=exc.message,
            **exc.error_details(),
        )
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return exc.http_status, body, headers
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(exc.wait))
    if isinstance(exc.detail, dict | list):
        # An APIException raised with a dict or a list: its parts become fields.
        fields = _flatten(exc.detail)
        body = error_body(
            status_code=exc.status_code,
            code=exc.default_code,
            message=_first_message(fields),
            fields=fields,
        )
    else:
        code = getattr(exc.detail, "code", None) or exc.default_code
        body = error_body(status_code=exc.status_code, code=str(code), message=str(exc.detail))
    return exc.status_code, body, headers


def server_error_response() -> JsonResponse:
    return JsonResponse(
        error_body(
            status_code=500,
            code="server_error",
            message=_("Something went wrong on our side. It has been logged."),
        ),
        status=500,
    )


class UnknownEndpoint(APIView):
    """Anything under /api/ that no route matches: 404 in the error shape (401 first for
    an anonymous caller), never Django's HTML page."""

    schema = None

    def _not_found(self, request, *args, **kwargs):
        raise exceptions.NotFound(_("There is no API endpoint at this address."))

    get = post = put = patch = delete = head = options = _not_found


# --- Permissions -------------------------------------------------------------------------


class CanTakeOrders(permissions.BasePermission):
    """Agents, supervisors and administrators."""

    message = gettext_lazy("Your role does not allow taking orders.")

    def has_permission(self, request, view):
        return can_take_orders(request.user)


class CanSupervise(permissions.BasePermission):
    """Supervisors and administrators: batch runs."""

    message = gettext_lazy("Your role does not allow running batch jobs.")

    def has_permission(self, request, view):
        return can_supervise(request.user)


class CanWorkPaymentExceptions(CanSupervise):
    """Supervisors and administrators: payment exceptions, releasing holds."""

    message = gettext_lazy("Your role does not allow working payment exceptions.")


class IsWarehouse(permissions.BasePermission):
    """The warehouse's system (the Warehouse role), supervisors and administrators: the
    pick list and shipment confirmations."""

    message = gettext_lazy("Your role does not allow working with the warehouse.")

    def has_permission(self, request, view):
        return can_work_warehouse(request.user)


# --- Pagination --------------------------------------------------------------------------


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class PageQuerySerializer(serializers.Serializer):
    """limit and offset, checked: DRF's LimitOffsetPagination would quietly ignore a value
    it cannot read, so the caller would get another page than the one asked for."""

    limit = serializers.IntegerField(
        min_value=1,
        max_value=Pagination.max_limit,
        required=False,
        help_text=f"Rows per page (default {Pagination.default_limit}).",
    )
    offset = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Rows to skip."
    )


_pages: dict[type, type] = {}


def page_of(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The response serializer of a page of `serializer_class` (LimitOffsetPagination)."""
    if serializer_class not in _pages:
        name = serializer_class.__name__.removesuffix("Serializer")
        _pages[serializer_class] = type(
            f"{name}PageSerializer",
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _pages[serializer_class]


def paginated_response(request, view, queryset, serializer_class) -> Response:
    """One page of `queryset`; 400 for a limit or offset that is not a valid number."""
    PageQuerySerializer(data=request.query_params.dict()).is_valid(raise_exception=True)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Schema ------------------------------------------------------------------------------


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema; every operation that takes a JSON body may also answer
    415 (another content type) in the error shape."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        takes_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer()
        if takes_body and "415" not in responses:
            responses["415"] = self._get_response_for_code(
                OpenApiResponse(
                    ErrorSerializer, description="The request body must be application/json."
                ),
                "415",
                direction=direction,
            )
        return responses
