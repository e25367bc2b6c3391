"""The batch jobs, each declared once as a BatchJobSpec subclass and registered here (see
batch.jobs.base for the declaration and the steps to add a job).

The work on each shipment is done by continuity's services (charging, child orders),
which know nothing of runs.
"""

from batch.jobs.base import (
    BatchJobSpec,
    Plan,
    job_for,
    job_is_registered,
    job_register,
    registered_jobs,
)
from batch.jobs.child_orders import CreateChildOrdersJob
from batch.jobs.payments import ProcessPaymentsJob

# In menu order: payments are taken before child orders are created.
job_register(ProcessPaymentsJob())
job_register(CreateChildOrdersJob())

__all__ = [
    "BatchJobSpec",
    "CreateChildOrdersJob",
    "Plan",
    "ProcessPaymentsJob",
    "job_for",
    "job_is_registered",
    "job_register",
    "registered_jobs",
]
