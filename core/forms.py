from django import forms
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from core.errors import ServiceError


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: under its field when the form has
    that field, at the top otherwise."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


# The service's arguments can be a card number and its code (Add credit card): an error
# report of this frame shows none of them.
@sensitive_variables("kwargs")
def form_service_call(form: forms.Form, service, **kwargs):
    """Call one service for a bound, valid form; its refusal (bad input, a state that
    forbids it, an unavailable gateway) becomes the form's errors and None comes back.
    The one way a page turns a service's answer into messages."""
    try:
        return service(**kwargs)
    except ValidationError as error:
        add_service_errors(form, error)
    except ServiceError as error:
        form.add_error(None, error.message)
    return None
