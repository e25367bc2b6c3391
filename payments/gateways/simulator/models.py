"""The simulator's own ledger: what the "bank" believes happened, independent of our
Payment rows. It never stores a card number or security code, only the behaviour the
test card asked for."""

from django.db import models


class SimulatedCard(models.Model):
    token = models.CharField(max_length=64, unique=True)
    behaviour = models.CharField(max_length=32)
    brand = models.CharField(max_length=12)
    last4 = models.CharField(max_length=4)
    expiry_month = models.PositiveSmallIntegerField()
    expiry_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.token} ({self.behaviour})"


class SimulatedTransaction(models.Model):
    """One processed request. The idempotency key is unique: the same key twice is the
    same transaction, answered again, never charged again."""

    idempotency_key = models.CharField(max_length=100, unique=True)
    operation = models.CharField(max_length=8)
    token = models.CharField(max_length=64, blank=True)
    original_reference = models.CharField(max_length=64, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    approved = models.BooleanField()
    decline_code = models.CharField(max_length=40, blank=True)
    reference = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.operation} {self.amount_minor} {self.currency} {self.reference}"


class DroppedRequest(models.Model):
    """A request that 'timed out before anything was charged': seen, never processed.
    Kept so the next request with the same key goes through instead of timing out again."""

    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.idempotency_key
