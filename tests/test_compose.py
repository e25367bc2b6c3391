"""docker-compose.yml, read as the deployment it describes (no docker engine runs in CI):
migrations once, before anything else; a health check on every long-running service;
secrets only from the uncommitted `.env`; never the demo data; Flower only on request,
on this machine, behind a password; the web on this machine too (an HTTPS proxy in front)."""

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
        "flower",
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


def test_flower_is_optional_in_the_monitoring_profile_and_the_rest_starts_by_default():
    assert {name: service.get("profiles") for name, service in SERVICES.items()} == {
        "db": None,
        "redis": None,
        "migrate": None,
        "web": None,
        "worker": None,
        "beat": None,
        "flower": ["monitoring"],
    }


def test_flower_listens_on_this_machine_only_behind_basic_auth_from_the_env_file():
    flower = SERVICES["flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    # From `.env` through compose's interpolation, without a default that would open it.
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    command = _command(flower)
    assert command.startswith('sh -c test -n "$$FLOWER_BASIC_AUTH" || {')
    assert command.endswith("exec celery -A config flower --port=5555")
    assert "basic-auth" not in command  # never on the command line (ps shows it)
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^# FLOWER_BASIC_AUTH=\S+:\S+$", example, re.M)


def test_flower_is_pinned_and_has_a_health_check_on_its_own_endpoint():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^    "flower==[\d.]+",$', pyproject, re.M)
    assert "http://127.0.0.1:5555/healthcheck" in " ".join(
        SERVICES["flower"]["healthcheck"]["test"]
    )


def test_the_web_shares_its_request_metrics_between_gunicorn_workers():
    web = SERVICES["web"]
    assert _command(web) == "gunicorn config.wsgi:application -c config/gunicorn.py"
    # config/gunicorn.py chooses the workers' shared folder itself, so a command run in a
    # web container (createsuperuser) does not look for a folder gunicorn never made; the
    # Celery processes count nothing in memory: /metrics reads the database.
    for name in ("web", "worker", "beat", "migrate"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in SERVICES[name]["environment"]


def test_the_app_services_read_every_variable_of_the_env_file():
    for name in ("web", "worker", "beat", "migrate"):
        assert SERVICES[name]["env_file"] == ".env"


def test_the_web_health_check_calls_the_live_status_whatever_the_allowed_hosts():
    # Its database and cache only: a failing worker, beat or gateway does not restart
    # the web. tests/test_health.py runs this command against a server.
    kind, python, option, code = SERVICES["web"]["healthcheck"]["test"]
    assert (kind, python, option) == ("CMD", "python", "-c")
    assert "c.request('GET', '/health/live/', headers={'Host': 'localhost'})" in code
    assert "sys.exit(c.getresponse().status != 200)" in code


def test_the_web_listens_on_this_machine_only_and_trusts_no_proxy_unless_told():
    assert SERVICES["web"]["ports"] == ["127.0.0.1:8000:8000"]
    for name in ("migrate", *APP):
        environment = SERVICES[name]["environment"]
        assert environment["PROXY_COUNT"] == "${PROXY_COUNT:-0}"
        assert environment["TRUSTED_PROXY_NETWORKS"] == "${TRUSTED_PROXY_NETWORKS:-}"
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^# TRUSTED_PROXY_NETWORKS=\S+/\d+$", example, re.M)
