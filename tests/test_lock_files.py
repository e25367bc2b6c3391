"""The lock files agree with pyproject.toml: every pinned direct dependency appears in
them at the same version, the development lock holds the production one, and every
entry carries hashes (pip's --require-hashes refuses the file otherwise)."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# "name==version ; marker \" at the start of a line: one entry of a lock file.
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def lock_entries(name):
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(package): version for package, version in ENTRY.findall(text)}


def pins(requirements):
    pinned = {}
    for line in requirements:
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line}: pin direct dependencies with =="
        pinned[canonicalize_name(requirement.name)] = specifier.version
    return pinned


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("production.lock", PROJECT["dependencies"]),
        (
            "development.lock",
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"],
        ),
    ],
)
def test_every_pin_is_in_the_lock_at_its_version(lock, requirements):
    locked = lock_entries(lock)
    mismatches = {
        name: (version, locked.get(name))
        for name, version in pins(requirements).items()
        if locked.get(name) != version
    }
    assert mismatches == {}, "pyproject.toml and the lock disagree: run `make lock`"


def test_the_development_lock_holds_the_production_lock():
    production = lock_entries("production.lock")
    development = lock_entries("development.lock")
    assert production["django"] == development["django"]
    assert {name: development.get(name) for name in production} == production


@pytest.mark.parametrize("lock", ["production.lock", "development.lock"])
def test_every_entry_has_a_hash(lock):
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert unhashed == []
