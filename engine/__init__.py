"""quytrinh's core: definitions, lint, calendar, SLA, state machine, store, services.

Importable and testable without Prefect, the web app or a server.
"""
