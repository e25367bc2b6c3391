"""Errors raised by services. Interfaces translate them: a form message, an HTTP status,
a command exit code.

Bad input is django.core.exceptions.ValidationError (with a field name where one
applies); the classes here are for everything else.
"""


class ServiceError(Exception):
    """Base class: a request that is well-formed but cannot be carried out."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Conflict(ServiceError):
    """The object's state forbids the action, e.g. adding a line to a submitted order."""

    code = "conflict"


class NotFound(ServiceError):
    code = "not_found"
