"""What every type-ahead lookup shares (GET /api/v1/lookups/<kind>/, docs/api.md#lookups):
the option it answers, its query parameters and its response, and the view that checks
them and calls the lookup's selector.

Each app that owns the data declares its lookups (orders/lookups.py, continuity/lookups.py,
payments/lookups.py): a selector that takes the typed text and a limit and returns at
most `limit` options, index-backed, in a fixed number of queries (a type-ahead calls it
on every key).
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.limits import SEARCH_TERM_MAX_LENGTH
from core.rest import error_responses
from core.rest_fields import QueryIntegerField, StrictCharField

LOOKUP_LIMIT_DEFAULT = 10
LOOKUP_LIMIT_MAX = 20


@dataclass(frozen=True)
class LookupOption:
    """One option of a lookup's list, its texts in the active language."""

    value: str
    label: str
    description: str = ""
    disabled: bool = False
    disabled_reason: str = ""


class LookupQuerySerializer(serializers.Serializer):
    """q and limit, which every lookup takes; a lookup with parameters of its own
    subclasses it."""

    q = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=SEARCH_TERM_MAX_LENGTH,
        default="",
        help_text="The text typed so far; empty or missing: the first options.",
    )
    limit = QueryIntegerField(
        required=False,
        min_value=1,
        max_value=LOOKUP_LIMIT_MAX,
        default=LOOKUP_LIMIT_DEFAULT,
        help_text=f"The most options answered (default {LOOKUP_LIMIT_DEFAULT}).",
    )


class LookupOptionSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="What the field receives when it is chosen.")
    label = serializers.CharField(help_text="The option's text.")
    description = serializers.CharField(help_text="A second line; may be empty.")
    disabled = serializers.BooleanField(help_text="Shown but not selectable.")
    disabled_reason = serializers.CharField(help_text="Why it is disabled; empty otherwise.")


class LookupResultSerializer(serializers.Serializer):
    results = LookupOptionSerializer(many=True)


def lookup_schema(
    *, operation_id: str, summary: str, description: str, query, errors=(400,), refused_when=""
):
    """@extend_schema of a lookup's GET (`refused_when`: core.rest.error_responses')."""
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        tags=["lookups"],
        parameters=[query],
        responses={
            200: LookupResultSerializer,
            **error_responses(*errors, refused_when=refused_when),
        },
    )


class LookupApi(APIView):
    """A lookup's view: checks the query with `query_serializer`, passes its validated
    data (q, limit and the lookup's own parameters) to `lookup`, answers the options.
    Subclasses set permission_classes, query_serializer and lookup (a staticmethod), and
    decorate `get` with lookup_schema."""

    permission_classes = [IsAuthenticated]
    query_serializer: type[LookupQuerySerializer] = LookupQuerySerializer

    @staticmethod
    def lookup(**parameters) -> list[LookupOption]:
        raise NotImplementedError

    def get(self, request):
        query = self.query_serializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        options = self.lookup(**query.validated_data)
        return Response(LookupResultSerializer({"results": options}).data)
