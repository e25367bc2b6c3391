"""The words the pages must show, per language.

The product's glossary fixes the words of the seed procedure, in English and in French: they are
written out here, so that a missing or different translation fails a test. Other labels
(the card dialog's fields, statuses) are whatever the project's translation says; they
are read from its catalogue, and the French ones must at least be translated.
"""

from django.utils import translation

# The glossary, word for word.
SPEC_WORDS = {
    "en": {
        "Customer service": "Customer service",
        "Search": "Search",
        "Select": "Select",
        "New sales order": "New sales order",
        "Item number": "Item number",
        "Complete": "Complete",
        "Method of payment": "Method of payment",
        "Add credit card": "Add credit card",
        "Payments": "Payments",
        "Submit": "Submit",
        "Continuity program": "Continuity program",
        "Continuity item": "Continuity item",
        "Sales order": "Sales order",
        "Process continuity payments": "Process continuity payments",
        "Create continuity child orders": "Create continuity child orders",
        "Run date": "Run date",
    },
    "fr": {
        "Customer service": "Service client",
        "Search": "Rechercher",
        "Select": "Sélectionner",
        "New sales order": "Nouvelle commande client",
        "Item number": "Numéro d'article",
        "Complete": "Terminé",
        "Method of payment": "Mode de paiement",
        "Add credit card": "Ajouter une carte de crédit",
        "Payments": "Paiement",
        "Submit": "Soumettre",
        "Continuity program": "Programme périodique",
        "Continuity item": "Article périodique",
        "Sales order": "Commande client",
        "Process continuity payments": "Traiter les paiements périodiques",
        "Create continuity child orders": "Créer des commandes enfant périodiques",
        "Run date": "Date d'exécution",
    },
}

# Words the glossary does not fix but whose French must not be the English word.
MUST_BE_TRANSLATED = {
    "Quantity",
    "Card",
    "Card number",
    "Name on card",
    "Expiration month",
    "Expiration year",
    "Security code",
    "Amount due now",
    "Open",
    "Submitted",
    "Paid",
    "Scheduled",
    "User name",
    "Password",
    "Sign in",
    "Language",
    "Item number %(number)s does not exist.",
    "Dry run",
    "Child orders",
    "Continuity sales order",
}

LOCALES = {"en": "en-US", "fr": "fr-FR"}


class Words:
    """words["Search"]: the label the page shows in this language."""

    def __init__(self, language: str):
        self.language = language

    def __getitem__(self, english: str) -> str:
        spec = SPEC_WORDS[self.language].get(english)
        if spec is not None:
            return spec
        with translation.override(self.language):
            text = translation.gettext(english)
        if self.language != "en" and english in MUST_BE_TRANSLATED:
            assert text != english, (
                f"{english!r} has no {self.language} translation in locale/ "
                "(is the catalogue compiled?)"
            )
        return text

    def status(self, choice) -> str:
        """The label of a TextChoices member, as the page shows it."""
        with translation.override(self.language):
            return str(choice.label)

    def in_context(self, context: str, english: str) -> str:
        """A label translated with a context (msgctxt), as the page shows it."""
        with translation.override(self.language):
            return translation.pgettext(context, english)

    def status_of(self, model: str, value: str) -> str:
        """A status label by model name: "subscription", "cancelled"."""
        from continuity.models import SubscriptionStatus

        choices = {"subscription": SubscriptionStatus}[model]
        return self.status(choices(value))

    @property
    def locale(self) -> str:
        return LOCALES[self.language]
