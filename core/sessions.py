"""The idle timeout of a signed-in session, renewed at most once a minute.

Django renews a session's expiry by writing the session on every request
(SESSION_SAVE_EVERY_REQUEST): a database write and a commit per request, which for a
type-ahead lookup is one per keystroke, and about 4 ms of every answer. Here a request
writes the session only when something in it changed or its last renewal is a minute old,
so the idle timeout (SESSION_IDLE_MINUTES) still holds, to the minute."""

from __future__ import annotations

import time

from django.utils.deprecation import MiddlewareMixin

RENEWED_AT = "_renewed_at"
RENEW_EVERY_SECONDS = 60


class SessionRenewedEveryMinuteMiddleware(MiddlewareMixin):
    """Placed after SessionMiddleware: it answers before it, and a session it marks as
    changed is saved (and its cookie renewed) by SessionMiddleware."""

    def process_response(self, request, response):
        session = getattr(request, "session", None)
        if session is None or session.is_empty():
            return response
        now = int(time.time())
        renewed_at = session.get(RENEWED_AT, 0)
        if not isinstance(renewed_at, int) or now - renewed_at >= RENEW_EVERY_SECONDS:
            session[RENEWED_AT] = now
        return response
