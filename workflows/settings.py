"""The Prefect settings quytrinh depends on, set in one place.

Prefect reads its settings from ``PREFECT_*`` environment variables (and
profiles). :func:`apply_prefect_defaults` writes the project's defaults into
the environment *only where the operator has not set the variable*, so an
operator's choice always wins, and refreshes Prefect's global settings if
Prefect is already imported. Importing :mod:`workflows` calls it.

Why each default (figures measured on the project machine, Prefect 3.9, see
``docs/prefect.md``):

- ``PREFECT_SERVER_ANALYTICS_ENABLED=false`` and the cloud telemetry switch
  off: the server runs where there is no outbound network, and must not try.
- ``PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS=false``: no metrics thread
  sampling every process every 10 s on a 2-core machine.
- ``PREFECT_RESULTS_PERSIST_BY_DEFAULT=false`` and
  ``PREFECT_TASKS_DEFAULT_PERSIST_RESULT=false``: the outbox row in our
  database is the record of every side effect; Prefect keeps no result files.
- ``PREFECT_LOGGING_LEVEL=INFO``: one log line per side effect reaches the
  Prefect UI (dossier, procedure, unit); the worker's terminal shows only
  warnings (``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=WARNING``: the worker
  prints one line per run itself); Prefect's internal loggers stay at
  ``ERROR`` and the server's at ``WARNING``.
- ``PREFECT_SERVER_EVENTS_RETENTION_PERIOD=7d`` and database vacuum of old
  flow runs after ``30d`` (``PREFECT_SERVER_SERVICES_DB_VACUUM_*``): a drain
  every 10 s and a sweep every 30 s would otherwise keep ~11,500 flow runs a
  day forever; the dossier's own history lives in our events table.
- ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``: Prefect 3.9 cannot switch heartbeats
  off from the environment (the variable only accepts integers >= 30). The
  cost of a heartbeat is paid when a *synchronous* flow exits (the engine
  joins the heartbeat thread, up to ~1 s). quytrinh's flows are synchronous
  (the engine is), so the worker runs them inside :func:`disable_heartbeats`
  (``WorkerConfig.disable_heartbeats``); an operator who sets the variable
  gets heartbeats back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, MutableMapping

#: Environment defaults applied by :func:`apply_prefect_defaults`.
PREFECT_DEFAULTS: Mapping[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_INTERNAL_LOGGING_LEVEL": "ERROR",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P7D",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": "2592000",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

#: Where the embedded (local) Prefect server keeps its SQLite database and files.
LOCAL_PREFECT_HOME = Path("var") / "prefect"


def apply_prefect_defaults(
    environ: MutableMapping[str, str] | None = None,
    *,
    home: str | os.PathLike | None = None,
) -> dict[str, str]:
    """Set quytrinh's Prefect defaults where the operator has not set them.

    Parameters
    ----------
    environ:
        The environment to complete; ``os.environ`` when omitted.
    home:
        If given, also default ``PREFECT_HOME`` to this folder (the embedded
        server uses ``./var/prefect``).

    Returns
    -------
    dict
        The variables this call set (empty when the operator had set them all).
    """
    env = os.environ if environ is None else environ
    wanted = dict(PREFECT_DEFAULTS)
    if home is not None:
        wanted["PREFECT_HOME"] = str(Path(home).resolve())
    applied = {}
    for key, value in wanted.items():
        if key not in env:
            env[key] = value
            applied[key] = value
    if applied and env is os.environ and "prefect.context" in sys.modules:
        # Prefect built its global settings from the environment at import
        # time; rebuild them so the new defaults take effect in this process.
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    return applied


def disable_heartbeats():
    """A context manager running synchronous flows in this process without heartbeats.

    Unless the operator set ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, flows run
    inside the context emit no heartbeat and so do not wait ~1 s for the
    heartbeat thread when they exit.

    Returns
    -------
    contextlib.AbstractContextManager
        Enter it around the flow calls.
    """
    import contextlib

    from prefect.settings import temporary_settings

    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ:
        return contextlib.nullcontext()
    return temporary_settings(updates={"flows.heartbeat_frequency": None})
