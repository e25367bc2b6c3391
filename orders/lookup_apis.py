"""GET /api/v1/lookups/items/ and /lookups/continuity-items/ (core.lookups)."""

from core.lookups import LookupApi, LookupQuerySerializer, lookup_schema
from core.rest import CanTakeOrders
from orders.lookups import continuity_item_lookup, item_lookup


class ItemLookupApi(LookupApi):
    permission_classes = [*LookupApi.permission_classes, CanTakeOrders]
    lookup = staticmethod(item_lookup)

    @lookup_schema(
        operation_id="item_lookup",
        summary="Look up items",
        description="Active items whose number starts with `q` or whose name contains it "
        "(case-insensitive), in item number order; a continuity item is described as such.",
        query=LookupQuerySerializer,
    )
    def get(self, request):
        return super().get(request)


class ContinuityItemLookupApi(LookupApi):
    permission_classes = [*LookupApi.permission_classes, CanTakeOrders]
    lookup = staticmethod(continuity_item_lookup)

    @lookup_schema(
        operation_id="continuity_item_lookup",
        summary="Look up continuity items",
        description="Active continuity items (items that start a program) whose number "
        "starts with `q` or whose name contains it, in item number order, described by "
        "their program's name.",
        query=LookupQuerySerializer,
    )
    def get(self, request):
        return super().get(request)
