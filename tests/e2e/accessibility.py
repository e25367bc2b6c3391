"""The accessibility scan: axe-core (shipped in axe-playwright-python's wheel, injected by
Playwright, so the pages' CSP is not involved and nothing comes from a CDN) on a page as
it stands. Serious and critical violations fail; minor and moderate ones are left to
review."""

from axe_playwright_python.sync_playwright import Axe

FAILING_IMPACTS = {"serious", "critical"}

_axe = Axe()


def serious_violations(page) -> list[str]:
    """One line per serious or critical violation: rule, impact, the elements."""
    violations = _axe.run(page).response["violations"]
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in violations
        if violation["impact"] in FAILING_IMPACTS
    ]


def assert_accessible(page, where: str) -> None:
    found = serious_violations(page)
    assert found == [], f"{where}: " + "\n".join(found)
