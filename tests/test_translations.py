"""The French catalogue is complete, up to date with the code, and holds to the glossary
(docs/glossary.md): one French word per concept, the same status and action labels
everywhere."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

from batch.models import BatchRunStatus
from continuity.models import OccurrenceStatus, ShipmentProblem, SubscriptionStatus
from continuity.subscription_actions import actions_all
from orders.models import SalesOrderStatus
from payments.models import PaymentOperation, PaymentStatus

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
GLOSSARY = ROOT / "docs" / "glossary.md"

# Messages whose French is the English word, on purpose. Kept short: each is a word
# French spells the same way, with the same meaning in our pages.
SAME_IN_FRENCH = {
    "Actions",  # column heading
    "actions",
    "action",
    "Agent",  # a hold reason: the agent put it
    "code",
    "expiration",
    "message",
    "notification",
    "notifications",
    "occurrence",  # admin name of a shipment's row
    "occurrences",
    "OK",  # the batch form's button, as the product's procedure names it
    "Standard",  # a sales order kind
    "Total",
    "total",
}

# (concept, English pattern, French pattern): a message whose English names the concept
# says it with the glossary's French word. Case-insensitive.
CONCEPT_WORDS = [
    ("cancel", r"\bcancel", r"annul"),
    ("pause", r"\bpaus", r"\bpause"),
    ("hold", r"\bhold\b|\bholds released\b|\bheld for\b", r"suspen"),
    ("skip", r"\bskip", r"ignor"),
    ("refund", r"\brefund", r"rembours"),
    ("void", r"\bvoid", r"invalidation|invalidé"),
    ("awaiting payment", r"\bawaiting payment\b", r"en attente de paiement"),
    ("decline", r"\bdeclin", r"refus"),
    ("sale", r"\bsales?\b(?! orders?\b)", r"\bvente"),
    ("chunk", r"\bchunks?\b", r"\btranche"),
    ("batch run", r"\bbatch runs?\b", r"exécution"),
    ("blocked", r"\bblocked\b", r"bloqu"),
    # "delivery charge" is its own concept: what delivery costs, not the card's charge.
    ("charge", r"(?<!delivery )\bcharg", r"débit"),
    ("resume", r"\bresum", r"\brepr"),
    ("retry", r"\bretr", r"tentative|réessa|retent"),
    ("reconcile", r"\breconcil", r"rapprochement"),
    ("authorization", r"authoriz", r"autoris"),
    ("dry run", r"\bdry run", r"simulation"),
    ("approved", r"\bapprov", r"approuv"),
    ("pending", r"\bpending\b", r"en attente"),
    ("queued", r"\bqueued\b", r"file d'attente"),
    ("batch job", r"\bbatch jobs?\b", r"traitements? par lots"),
    ("continuity", r"\bcontinuity\b", r"périodi"),
    ("child order", r"\bchild orders?\b", r"commandes? enfant"),
    ("delivery mode", r"\bdelivery modes?\b", r"modes? de livraison"),
    ("delivery charge", r"\bdelivery charges?\b", r"frais de livraison"),
    # Releasing to the warehouse, not releasing a payment hold (that is "hold").
    ("release", r"^(?!.*\bholds?\b).*\breleas", r"\blan[cç]"),
    ("warehouse", r"\bwarehouse", r"entrepôt"),
    ("carrier", r"(?<!%\()\bcarriers?\b", r"transporteur"),
    ("tracking number", r"\btracking numbers?\b", r"numéros? de suivi"),
    ("invoice", r"\binvoic", r"factur"),
]

# French words that belong to one concept only: a message using one says that concept in
# English. They are the words two concepts once shared ("Résilier" against "Annulé",
# "en attente" for both "on hold" and "awaiting payment").
OWNED_FRENCH_WORDS = {
    "cancel": r"annul",
    "pause": r"\bpause",
    "hold": r"suspen",
    "void": r"invalidation|invalidé",
    "blocked": r"bloqu",
}

STATUS_CHOICES = {
    "Sales order": SalesOrderStatus,
    "Subscription": SubscriptionStatus,
    "Shipment": OccurrenceStatus,
    "Shipment not ordered or not charged": ShipmentProblem,
    "Payment": PaymentStatus,
    "Payment operation": PaymentOperation,
    "Batch run": BatchRunStatus,
}


def _catalogue() -> polib.POFile:
    return polib.pofile(str(CATALOGUE))


def _translations(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def _glossary_table(heading: str) -> list[tuple[str, str, str]]:
    """The rows of the three-column table under `## heading` in docs/glossary.md."""
    section = GLOSSARY.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and line.startswith("|") and not set(cells[0]) <= {"-"}:
            rows.append(tuple(cells))
    return rows[1:]  # the header row


def test_every_message_has_its_own_french():
    problems = []
    for entry in _catalogue():
        if entry.obsolete:
            continue
        name = f"{entry.msgctxt + ' | ' if entry.msgctxt else ''}{entry.msgid!r}"
        if entry.fuzzy:
            problems.append(f"fuzzy: {name}")
        for text in _translations(entry):
            if not text:
                problems.append(f"untranslated: {name}")
            elif text == entry.msgid and entry.msgid not in SAME_IN_FRENCH:
                problems.append(f"same as the English: {name}")
    assert problems == []


def test_the_allowed_same_words_are_all_still_in_the_catalogue():
    msgids = {entry.msgid for entry in _catalogue()}
    assert SAME_IN_FRENCH - msgids == set()


def test_makemessages_adds_and_changes_nothing(tmp_path):
    """Run makemessages on a copy of the project: every message of the code and templates
    is in the catalogue, none is left over, and none would turn fuzzy."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext is needed to check the catalogue: apt-get install gettext")
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "var", "node_modules", "*.mo"),
    )
    environment = {**os.environ, "DEBUG": "true"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-obsolete"],
        cwd=copy,
        env=environment,
        check=True,
        capture_output=True,
    )

    def messages(path: Path) -> dict:
        return {
            (entry.msgctxt, entry.msgid, entry.msgid_plural): (
                tuple(_translations(entry)),
                entry.fuzzy,
            )
            for entry in polib.pofile(str(path))
        }

    before = messages(CATALOGUE)
    after = messages(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    assert sorted(set(after) - set(before), key=str) == []  # new in the code
    assert sorted(set(before) - set(after), key=str) == []  # gone from the code
    assert {key: value for key, value in after.items() if value != before[key]} == {}


@pytest.mark.parametrize("concept, english, french", CONCEPT_WORDS, ids=lambda v: str(v)[:20])
def test_a_concept_has_one_french_word(concept, english, french):
    wrong = [
        (entry.msgid, text)
        for entry in _catalogue()
        if re.search(english, entry.msgid, re.IGNORECASE)
        for text in _translations(entry)
        if not re.search(french, text, re.IGNORECASE)
    ]
    assert wrong == [], f"{concept} is not said with {french!r}"


@pytest.mark.parametrize("concept, french", sorted(OWNED_FRENCH_WORDS.items()))
def test_a_french_word_belongs_to_one_concept(concept, french):
    english = dict((name, pattern) for name, pattern, _ in CONCEPT_WORDS)[concept]
    borrowed = [
        (entry.msgid, text)
        for entry in _catalogue()
        for text in _translations(entry)
        if re.search(french, text, re.IGNORECASE)
        and not re.search(english, entry.msgid, re.IGNORECASE)
    ]
    assert borrowed == [], f"{french!r} says something other than {concept}"


def test_status_labels_are_the_glossarys():
    table = _glossary_table("Status labels")
    listed = {(thing, english): french for thing, english, french in table}
    shown = {}
    for thing, choices in STATUS_CHOICES.items():
        for member in choices:
            with translation.override("en"):
                english = str(member.label)
            with translation.override("fr"):
                shown[(thing, english)] = str(member.label)
    assert shown == listed


def test_action_labels_are_the_glossarys():
    listed = {
        (where, english): french for where, english, french in _glossary_table("Action labels")
    }
    shown = {}
    for action in actions_all():
        with translation.override("en"):
            english = str(action.label)
        # Every action, listed or not: one missing from the glossary fails here.
        with translation.override("fr"):
            shown[("Subscription action", english)] = str(action.label)
    for where, english in listed:
        if where != "Subscription action":
            with translation.override("fr"):
                shown[(where, english)] = translation.gettext(english)
    assert shown == listed
