from urllib.parse import urlencode

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.debug import sensitive_variables

from core.errors import ServiceError
from core.limits import EARLIEST_DATE, LATEST_DATE, validate_business_date


class BusinessDateField(forms.DateField):
    """A date typed on a page, within the years the app plans in (core.limits): the same
    window and message as the API's BusinessDateField and the services' check. A date
    input of the browser's own kind."""

    default_validators = [validate_business_date]

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("min", EARLIEST_DATE.isoformat())
        self.widget.attrs.setdefault("max", LATEST_DATE.isoformat())


def lookup_url(kind: str) -> str:
    """The lookup API's address for `kind` (GET /api/v1/lookups/<kind>/, named
    api:lookup). The literal path stands in while the route is not there, so a page never
    fails for its type-ahead: its field still takes a typed code."""
    try:
        return reverse("api:lookup", kwargs={"kind": kind})
    except NoReverseMatch:
        return f"/api/v1/lookups/{kind}/"


class LookupInput(forms.TextInput):
    """A text field the browser turns into a type-ahead list (static/js/lookup.js) fed by
    the lookup API of `kind`; without JavaScript it is the plain field it was, where the
    code is typed. The field's own validation is unchanged: the list only fills it.

    `params`: extra query parameters (a subscription action's name, a customer);
    `follow`: {parameter: id of another field whose value is sent with each request};
    `show_label`: the field shows the picked option's label and posts its value from a
    hidden field (for values nobody types, a card's id); the label of the value the page
    is rendered with comes from the form field's choices."""

    def __init__(self, kind: str, *, params=None, follow=None, show_label=False, attrs=None):
        super().__init__(attrs)
        self.kind = kind
        self.params = params or {}
        self.follow = follow or {}
        self.show_label = show_label

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        widget_attrs.update(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "data-lookup": lookup_url(self.kind),
                # The live region's words, in the page's language: "{count}" is replaced
                # by the number of options. One and many cover English and French (where
                # 0 takes the singular: it has words of its own).
                "data-lookup-none": gettext("No match."),
                # The list's name, from its field's label: "Item number, options".
                "data-lookup-list-name": gettext("%(field)s, options") % {"field": "{field}"},
                "data-lookup-one": ngettext(
                    "%(count)s option, arrow keys to choose.",
                    "%(count)s options, arrow keys to choose.",
                    1,
                )
                % {"count": "{count}"},
                "data-lookup-many": ngettext(
                    "%(count)s option, arrow keys to choose.",
                    "%(count)s options, arrow keys to choose.",
                    2,
                )
                % {"count": "{count}"},
            }
        )
        if self.params:
            widget_attrs["data-lookup-params"] = urlencode(self.params)
        if self.follow:
            (parameter, field_id), *_ = self.follow.items()
            widget_attrs["data-lookup-follow"] = f"{parameter}={field_id}"
        if self.show_label:
            widget_attrs["data-lookup-show"] = "label"
            current = "" if value is None else str(value)
            labels = {str(key): str(text) for key, text in getattr(self, "choices", ())}
            widget_attrs["data-lookup-text"] = labels.get(current, current)
        return context


def add_service_errors(
    form: forms.Form, error: ValidationError, renamed: dict[str, str] | None = None
) -> None:
    """Show a service's ValidationError on the form: under its field when the form has
    that field, at the top otherwise. `renamed`: the service's name of a field -> the
    form's, where they differ (the service speaks the API's names)."""
    renamed = renamed or {}
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            field = renamed.get(field, field)
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


# The service's arguments can be a card number and its code (Add credit card): an error
# report of this frame shows none of them.
@sensitive_variables("kwargs")
def form_service_call(
    form: forms.Form, service, *, renamed_fields: dict[str, str] | None = None, **kwargs
):
    """Call one service for a bound, valid form; its refusal (bad input, a state that
    forbids it, an unavailable gateway) becomes the form's errors and None comes back.
    The one way a page turns a service's answer into messages."""
    try:
        return service(**kwargs)
    except ValidationError as error:
        add_service_errors(form, error, renamed_fields)
    except ServiceError as error:
        form.add_error(None, error.message)
    return None


class SignInForm(AuthenticationForm):
    """Django's sign-in form, holding the user name to the length of the user model's
    field. Django's form sets that length after the field is made, so only the browser's
    maxlength knew it: a longer name went on to authenticate(), and django-axes failed to
    record the attempt (its column is 255 characters) with a 500. Refused here, at the
    field, no password is checked and nothing is counted."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))
