"""docker-compose.yml, read as the deployment it describes (no docker engine runs in CI):
migrations once, before anything else; a health check on every long-running service;
secrets only from the uncommitted `.env`; never the demo data."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP = ("web", "worker", "beat")


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_migrations_run_once_in_a_one_shot_service_that_the_app_waits_for():
    migrate = SERVICES["migrate"]
    assert _command(migrate) == (
        "sh -c python manage.py migrate --no-input && python manage.py ensure_roles"
    )
    assert migrate["restart"] == "no"
    for name in APP:
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "migrate" not in _command(SERVICES[name])


def test_every_long_running_service_has_a_health_check():
    assert sorted(name for name, service in SERVICES.items() if "healthcheck" in service) == [
        "beat",
        "db",
        "redis",
        "web",
        "worker",
    ]


def test_no_service_and_no_image_loads_the_demo_data():
    for name, service in SERVICES.items():
        assert "load_demo_data" not in _command(service), name
    assert "load_demo_data" not in (ROOT / "Dockerfile").read_text()


def test_secrets_come_from_the_uncommitted_env_file_with_a_committed_example():
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"SECRET_KEY", "POSTGRES_PASSWORD"}
    example = (ROOT / ".env.example").read_text()
    for name in required:
        assert re.search(rf"^{name}=\S+", example, re.M), name
    assert "/.env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()
    assert "POSTGRES_PASSWORD: continuity" not in text
