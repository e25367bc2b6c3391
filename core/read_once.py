"""Answers kept for the length of a block: the reads a request or a batch chunk asks
again and again (the tax tables, a program's definition) are made once in it.

Each ReadOnce is a context variable, so each thread and each task has its own block, and
a block opened inside another keeps the outer one's answers. Outside any block, `get`
reads every time.

A shared ReadOnce (the configuration's: tax tables, programs) also keeps its answers in
the process, for later blocks, under the configuration's version (core.config_version):
a block reads the version once, at its first answer not already in it, and takes the
process's answers only if they were read under that same version. An answer it reads
itself is kept for others only if the version is still the block's once it is read. A configuration
change commits a new version with it, so a block that starts after the change reads the
tables again; a block already running keeps what it read, as before. The answers are
shared between requests: whoever gets one only reads it (never changes it)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

from django.db import connection

from core.config_version import (
    ConfigVersion,
    config_version_read,
    statement_may_write_configuration,
)

T = TypeVar("T")

# The process keeps at most this many answers (every answer of one version); past it,
# it starts again empty. A batch run asks for a few dozen (places, item sets, programs).
SHARED_ANSWERS_MAX = 2_000

_MISSING = object()

# The configuration version of the outermost shared block running in this context:
# [] until its first read, then [version] (version None: nothing to share).
_block_version: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "read_once_config_version", default=None
)


class _SharedAnswers:
    """The process's answers of one configuration version."""

    def __init__(self):
        self._lock = threading.Lock()
        self._version: ConfigVersion | None = None
        self._answers: dict = {}

    def get(self, version: ConfigVersion, key: Hashable):
        with self._lock:
            if self._version != version:
                return _MISSING
            return self._answers.get(key, _MISSING)

    def put(self, version: ConfigVersion, key: Hashable, value) -> None:
        with self._lock:
            if self._version is None or version[0] > self._version[0]:
                # A newer version: what was kept belongs to the old configuration.
                self._version, self._answers = version, {}
            elif version[0] < self._version[0]:
                return  # a block that started before the change: not kept for others
            elif version != self._version:
                # The same number, another token: a database restored from a backup
                # numbers its changes again. Only the token tells them apart.
                self._version, self._answers = version, {}
            if len(self._answers) >= SHARED_ANSWERS_MAX:
                self._answers = {}
            self._answers[key] = value

    def clear(self) -> None:
        with self._lock:
            self._version, self._answers = None, {}


shared_answers = _SharedAnswers()


class _ConfigWriteWatch:
    """An execute wrapper for a shared block's connection: a statement that may write the
    configuration ends the block's sharing (its version set to None), so that what the
    block reads next is its own transaction's view, never the process's answers of the
    version it read before."""

    def __init__(self, holder: list):
        self._holder = holder

    def __call__(self, execute, sql, params, many, context):
        if statement_may_write_configuration(sql):
            self._holder[:] = [None]
        return execute(sql, params, many, context)


def _config_version() -> ConfigVersion | None:
    holder = _block_version.get()
    if holder is None:
        return None
    if not holder:
        holder.append(config_version_read())
    return holder[0]


class ReadOnce:
    def __init__(self, name: str, *, shared: bool = False):
        self._name = name
        self._shared = shared
        self._answers: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
            name, default=None
        )

    @contextlib.contextmanager
    def block(self) -> Iterator[None]:
        """Keep each answer read in the block until it ends (an inner block keeps the
        outer block's answers, and leaves its own to it)."""
        outer = self._answers.get()
        token = self._answers.set(outer if outer is not None else {})
        with contextlib.ExitStack() as stack:
            stack.callback(self._answers.reset, token)
            if self._shared and _block_version.get() is None:
                # The outermost shared block reads the version for every shared block
                # inside it, and stops sharing once its own connection writes the
                # configuration (the version it read is then no longer its own view).
                holder: list = []
                stack.callback(_block_version.reset, _block_version.set(holder))
                stack.enter_context(connection.execute_wrapper(_ConfigWriteWatch(holder)))
            yield

    def active(self) -> bool:
        return self._answers.get() is not None

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`, or its answer already read under `key` in this block (for a shared
        ReadOnce, or in the process under the block's configuration version)."""
        answers = self._answers.get()
        if answers is None:
            return read()
        if key in answers:
            return answers[key]
        version = _config_version() if self._shared else None
        if version is None:
            answers[key] = read()
            return answers[key]
        shared_key = (self._name, key)
        value = shared_answers.get(version, shared_key)
        if value is _MISSING:
            value = read()
            # Kept for others only if it is the block's version's answer: not if the
            # configuration changed since the block read the version (another
            # transaction's commit, or this transaction's own change, uncommitted).
            if config_version_read() == version:
                shared_answers.put(version, shared_key, value)
        answers[key] = value
        return value
