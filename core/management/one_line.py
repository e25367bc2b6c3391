"""What our operator commands share: a bad argument is one line on stderr and exit status
2 (not argparse's usage block), and whole-number options with a floor."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError


class OneLineErrorCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message):
            if parser.called_from_command_line:
                sys.stderr.write(f"{subcommand}: {message}\n")
                sys.exit(2)
            raise CommandError(message, returncode=2)

        parser.error = one_line_error
        return parser


def whole_number(unit: str, *, minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of `unit`, `minimum` or more."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number of {unit}, {minimum} or more: {value!r}"
            )
        return number

    return parse
