from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Actor:
    """Who or what made a change: a signed-in user, or a job such as a batch run."""

    label: str
    user_id: int | None = None

    @classmethod
    def of_user(cls, user: settings.AUTH_USER_MODEL) -> Actor:
        return cls(label=user.get_username(), user_id=user.pk)

    @classmethod
    def job(cls, name: str) -> Actor:
        return cls(label=name)
