"""Answers kept for the length of a block: the reads a request or a batch chunk asks
again and again (the tax tables, a program's definition) are made once in it.

Each ReadOnce is a context variable, so each thread and each task has its own block, and
a block opened inside another keeps the outer one's answers. Outside any block, `get`
reads every time."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

T = TypeVar("T")


class ReadOnce:
    def __init__(self, name: str):
        self._answers: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
            name, default=None
        )

    @contextlib.contextmanager
    def block(self) -> Iterator[None]:
        """Keep each answer read in the block until it ends (an inner block keeps the
        outer block's answers, and leaves its own to it)."""
        outer = self._answers.get()
        token = self._answers.set(outer if outer is not None else {})
        try:
            yield
        finally:
            self._answers.reset(token)

    def active(self) -> bool:
        return self._answers.get() is not None

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`, or its answer already read under `key` in this block."""
        answers = self._answers.get()
        if answers is None:
            return read()
        if key not in answers:
            answers[key] = read()
        return answers[key]
