"""Programs, their events and the events' lines (checked so that a program stays
sellable), and the one row of parameters."""

from collections.abc import Sequence

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from continuity.models import (
    ContinuityParameters,
    ContinuityProgram,
    ProgramEvent,
    ProgramEventLine,
)
from continuity.scheduling import (
    EventAction,
    EventSpec,
    IntervalUnit,
    ProgramDefinitionError,
    validate_program,
)
from core.admin import TolerantAutocompleteMixin
from orders.delivery import DeliveryMode


def _check_program_definition(*, bill_up_front: bool, events: Sequence[EventSpec]) -> None:
    """Refuse, as a form error, a program that could not be sold: the same rules the
    scheduling functions and program_quote apply when an order is taken."""
    try:
        validate_program(bill_up_front=bill_up_front, events=events)
    except ProgramDefinitionError as error:
        raise ValidationError(
            _("This program cannot be scheduled: %(problem)s"),
            code="program_definition",
            params={"problem": error},
        ) from None


def _check_event_lines(*, action: str, line_count: int) -> None:
    """An event that ships has lines to ship; a skip or end event has none."""
    if action == EventAction.NORMAL and line_count == 0:
        raise ValidationError(
            _("An event that ships needs at least one line."), code="event_without_lines"
        )
    if action != EventAction.NORMAL and line_count > 0:
        raise ValidationError(
            _("An event with the action %(action)s ships nothing, so it cannot have lines."),
            code="lines_on_event_that_does_not_ship",
            params={"action": EventAction(action).label},
        )


class CheckedDeleteMixin:
    """Deleting a row on its own page is refused when it would leave its program
    unsellable. The bulk "delete selected" action is off, as it would skip the check."""

    def check_delete(self, obj) -> None:
        raise NotImplementedError

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            try:
                self.check_delete(obj)
            except ValidationError as error:
                for message in error.messages:
                    self.message_user(request, message, messages.ERROR)
                opts = self.opts
                return HttpResponseRedirect(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
                )
        return super().delete_view(request, object_id, extra_context)


# --- Programs, their events and the events' lines ------------------------------------
#
# Django has no nested inlines: the program page edits its events, and each event's own
# page (the change link on its row) edits that event's lines.


class ProgramEventInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        # Blank extra rows have no cleaned data; deleted rows no longer count.
        kept = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        for event in kept:
            # Lines are edited on the event's page; a saved event turned into a skip or
            # end event here must lose its lines there first.
            if event.pk is not None and event.action != EventAction.NORMAL:
                try:
                    _check_event_lines(action=event.action, line_count=len(event.lines.all()))
                except ValidationError as error:
                    raise ValidationError(
                        _("Event %(event)s: %(problem)s"),
                        code=error.code,
                        params={"event": event.event_number, "problem": error.messages[0]},
                    ) from None
        # self.instance is the program as posted on the same page.
        _check_program_definition(
            bill_up_front=self.instance.bill_up_front, events=[event.as_spec() for event in kept]
        )


class ProgramEventInline(admin.TabularInline):
    model = ProgramEvent
    formset = ProgramEventInlineFormSet
    fields = (
        "event_number",
        "interval_count",
        "interval_unit",
        "repeat_count",
        "action",
        "lines_summary",
    )
    readonly_fields = ("lines_summary",)
    ordering = ("event_number",)
    show_change_link = True

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines__item")

    @admin.display(description=ProgramEventLine._meta.verbose_name_plural)
    def lines_summary(self, event):
        if event.pk is None:
            return self.get_empty_value_display()
        lines = [
            f"{line.quantity} x {line.item.item_number} @ {line.unit_price}"
            for line in event.lines.all()
        ]
        return ", ".join(lines) or self.get_empty_value_display()


@admin.register(ContinuityProgram)
class ContinuityProgramAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "active",
        "bill_up_front",
        "days_to_first_shipment",
        "prompt_for_start_date",
        "consolidate",
        "event_count",
    )
    list_display_links = ("code", "name")
    list_filter = ("active", "bill_up_front", "consolidate", "prompt_for_start_date")
    search_fields = ("code", "name")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("code", "name"),
                    "active",
                    "bill_up_front",
                    "days_to_first_shipment",
                    "prompt_for_start_date",
                    "consolidate",
                ),
                "description": _(
                    "The items, quantities and prices an event ships are edited on the "
                    "event's own page: save the program, then follow the link on the event."
                ),
            },
        ),
    )
    inlines = [ProgramEventInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(event_count=Count("events"))

    @admin.display(description=ProgramEvent._meta.verbose_name_plural, ordering="event_count")
    def event_count(self, program):
        return program.event_count


class ProgramEventForm(forms.ModelForm):
    class Meta:
        model = ProgramEvent
        fields = (
            "program",
            "event_number",
            "interval_count",
            "interval_unit",
            "repeat_count",
            "action",
            "delivery_mode",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Active modes only, and the event's own if it has been deactivated since, so
        # that the page can be saved again as it is.
        self.fields["delivery_mode"].queryset = DeliveryMode.objects.filter(
            Q(active=True) | Q(pk=self.instance.delivery_mode_id)
        )

    def clean(self):
        cleaned_data = super().clean()
        program = cleaned_data.get("program") if "program" in self.fields else None
        program = program or (self.instance.program if self.instance.program_id else None)
        spec_fields = ("event_number", "interval_count", "interval_unit", "repeat_count", "action")
        if program is None or any(name not in cleaned_data for name in spec_fields):
            return cleaned_data  # the field errors are shown already
        event = EventSpec(
            event_number=cleaned_data["event_number"],
            interval_count=cleaned_data["interval_count"],
            interval_unit=IntervalUnit(cleaned_data["interval_unit"]),
            repeat_count=cleaned_data["repeat_count"],
            action=EventAction(cleaned_data["action"]),
        )
        # The program as it would be with this event saved: its other events, and this one.
        others = program.events.exclude(pk=self.instance.pk) if self.instance.pk else program.events
        events = [other.as_spec() for other in others.all()] + [event]
        _check_program_definition(bill_up_front=program.bill_up_front, events=events)
        return cleaned_data


class ProgramEventLineInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        line_count = sum(
            1 for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
        )
        # self.instance is the event as posted on the same page.
        _check_event_lines(action=self.instance.action, line_count=line_count)


class ProgramEventLineInline(TolerantAutocompleteMixin, admin.TabularInline):
    model = ProgramEventLine
    formset = ProgramEventLineInlineFormSet
    fields = ("item", "quantity", "unit_price")
    autocomplete_fields = ("item",)

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None and obj.lines.exists() else 1


@admin.register(ProgramEvent)
class ProgramEventAdmin(CheckedDeleteMixin, TolerantAutocompleteMixin, admin.ModelAdmin):
    form = ProgramEventForm
    fields = (
        "program",
        "event_number",
        "interval_count",
        "interval_unit",
        "repeat_count",
        "action",
        "delivery_mode",
    )
    list_display = (
        "__str__",
        "program",
        "event_number",
        "interval_count",
        "interval_unit",
        "repeat_count",
        "action",
        "delivery_mode",
    )
    list_filter = ("program", "action")
    search_fields = ("program__code", "program__name")
    list_select_related = ("program", "delivery_mode")
    autocomplete_fields = ("program",)
    inlines = [ProgramEventLineInline]

    def get_readonly_fields(self, request, obj=None):
        # An event stays in the program it was made for.
        return ("program",) if obj is not None else ()

    def check_delete(self, event):
        program = event.program
        remaining = [other.as_spec() for other in program.events.exclude(pk=event.pk)]
        _check_program_definition(bill_up_front=program.bill_up_front, events=remaining)


class ProgramEventLineForm(forms.ModelForm):
    class Meta:
        model = ProgramEventLine
        fields = ("event", "item", "quantity", "unit_price")

    def clean_event(self):
        event = self.cleaned_data["event"]
        if event.action != EventAction.NORMAL:
            _check_event_lines(action=event.action, line_count=1)
        return event


@admin.register(ProgramEventLine)
class ProgramEventLineAdmin(CheckedDeleteMixin, TolerantAutocompleteMixin, admin.ModelAdmin):
    form = ProgramEventLineForm
    list_display = ("__str__", "event", "item", "quantity", "unit_price")
    list_filter = ("event__program",)
    search_fields = ("event__program__code", "item__item_number", "item__name")
    list_select_related = ("event__program", "item")
    autocomplete_fields = ("event", "item")

    def check_delete(self, line):
        event = line.event
        remaining = event.lines.exclude(pk=line.pk).count()
        _check_event_lines(action=event.action, line_count=remaining)


# --- Parameters: one row ---------------------------------------------------------------


@admin.register(ContinuityParameters)
class ContinuityParametersAdmin(admin.ModelAdmin):
    """The single row is created by load() and edited in place; there is no list, no
    add and no delete."""

    fields = (
        "child_order_lead_days",
        "payment_lead_days",
        "max_child_orders_per_run",
        "reauthorization_limit",
        "retry_interval_days",
        "materialisation_horizon_days",
    )

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        parameters = ContinuityParameters.load()
        return HttpResponseRedirect(
            reverse("admin:continuity_continuityparameters_change", args=[parameters.pk])
        )

    def has_add_permission(self, request):
        # load() makes the row with the one id the check constraint allows; an add form
        # would take the next id of the sequence instead.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
