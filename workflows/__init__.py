"""Prefect layer: flows and tasks for machine work (outbox), SLA timers, batch jobs.

Importing this package applies the project's Prefect defaults
(:func:`workflows.settings.apply_prefect_defaults`) to the environment, without
overriding anything the operator set, before Prefect reads its settings.
"""

from workflows.settings import apply_prefect_defaults as _apply_prefect_defaults

_apply_prefect_defaults()
