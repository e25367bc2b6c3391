from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
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
