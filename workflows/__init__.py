"""Prefect layer: flows and tasks for machine work (outbox), SLA timers, batch jobs."""
