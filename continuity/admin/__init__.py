"""The continuity admin, one module per family of models; importing them registers
their admin classes."""

from continuity.admin import programs, subscriptions  # noqa: F401
