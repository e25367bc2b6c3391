"""Errors raised by services. Interfaces translate them: a form message, an HTTP status,
a command exit code.

Bad input is django.core.exceptions.ValidationError (with a field name where one
applies); the classes here are for everything else.
"""


class ServiceError(Exception):
    """Base class: a request that is well-formed but cannot be carried out.

    A subclass says how the API answers it, so that the API layer (core) needs no import
    from the app that raises it: `http_status`, `retry_after` (seconds, sent as
    Retry-After) and `error_details()` (extra fields of the error body)."""

    code = "error"
    http_status = 409
    retry_after: int | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def error_details(self) -> dict:
        return {}


class Conflict(ServiceError):
    """The object's state forbids the action, e.g. adding a line to a submitted order."""

    code = "conflict"


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404
