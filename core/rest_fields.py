"""Request fields of the REST API that take exactly what the schema says, no more.

DRF's own fields are lenient in ways the OpenAPI schema cannot state: a BooleanField
takes 0, 1, "true", "yes" or "on", an IntegerField "12" or 12.0, a CharField the number
12, a DateField "20261201" or "2026-W49-2", and a CharField trims the text before it
checks its length. A client written against the schema must get what the schema
promises, and a request the schema forbids must be refused, so the API's request
bodies use these fields:

- StrictBooleanField: JSON true or false;
- StrictIntegerField: a JSON integer (not a string, not 1.0, not true);
- StrictCharField: a JSON string, taken as sent (not trimmed, so its length is the one
  the schema counts), without a NUL character (PostgreSQL cannot store one), and not
  blank (only spaces) unless allow_blank; the schema says so with a `pattern`;
- BusinessDateField: a date written YYYY-MM-DD within 2000-2199 (`format: date` and a
  `pattern` for the years).

Query parameters are text by nature: QueryBooleanField takes "true" or "false" only,
QueryIntegerField digits only;
StrictCharField and BusinessDateField serve there too.
"""

from __future__ import annotations

import re

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import ProhibitNullCharactersValidator

from core.limits import DATE_MESSAGE, is_business_date

# ECMA and Python regular expressions alike (the schema is read by both): [0-9], not \d,
# which in Python also matches other scripts' digits. ANY_TEXT_PATTERN does not match ""
# because drf-spectacular declares a field that allows blank text as oneOf its pattern and
# an empty string: "" must match exactly one of them.
ANY_TEXT_PATTERN = r"^[^\u0000]+$"
NON_BLANK_TEXT_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class QueryBooleanField(serializers.BooleanField):
    """A boolean query parameter: "true" or "false", as the schema's boolean is sent."""

    def to_internal_value(self, data):
        if data in ("true", "false"):
            return data == "true"
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


# An integer query parameter as the schema's integer is written: ASCII digits, an optional
# minus. int() would also take "5.0" (DRF), " 5", "+5", "1_0" or other scripts' digits.
_QUERY_INTEGER = re.compile(r"-?[0-9]+")


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter: digits only, as the schema's integer is sent."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _QUERY_INTEGER.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class TextValidator(RegexValidator):
    """A text field's rule, once: as a pattern (drf-spectacular publishes a
    RegexValidator's regex as the field's `pattern`) and as code that says which part of
    the rule the text broke."""

    def __init__(self, *, allow_blank: bool, blank_message: str):
        super().__init__(ANY_TEXT_PATTERN if allow_blank else NON_BLANK_TEXT_PATTERN)
        self.allow_blank = allow_blank
        self.blank_message = blank_message

    def __call__(self, value):
        ProhibitNullCharactersValidator()(value)
        if not self.allow_blank and not value.strip():
            raise serializers.ValidationError(self.blank_message, code="blank")


class StrictCharField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        # TextValidator refuses a NUL character itself (and publishes the rule).
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, ProhibitNullCharactersValidator)
        ]
        self.validators.append(
            TextValidator(allow_blank=self.allow_blank, blank_message=self.error_messages["blank"])
        )

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# The years the app plans in (2000-2199, the range the card expiry constraints accept):
# date arithmetic never leaves Python's range.
BUSINESS_DATE_PATTERN = r"^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@extend_schema_field({"type": "string", "format": "date", "pattern": BUSINESS_DATE_PATTERN})
class BusinessDateField(serializers.DateField):
    """A calendar date, YYYY-MM-DD, within the years the app plans in (core.limits: the
    same window and message as the pages and the services)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        day = super().to_internal_value(value)
        if not is_business_date(day):
            raise serializers.ValidationError(str(DATE_MESSAGE), code="date_range")
        return day
