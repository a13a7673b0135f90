"""The quytrinh worker: serves the drain and sweep deployments, running their runs in this process.

Two deployments are registered with the Prefect API (both named ``quytrinh``):

``quytrinh-sweep-timers/quytrinh``
    an interval schedule (every 30 s by default). Prefect's scheduler creates
    the runs; the worker picks up every run that is due, including runs that
    became *late* while the worker or the server was down. Of several due
    runs only the newest executes and the older ones are closed as
    ``Cancelled``/"Superseded": the sweep computes from stored instants and
    ``now``, so one run catches up with everything missed.
``quytrinh-drain-outbox/quytrinh``
    no schedule: the worker polls the outbox (one indexed query, every 2 s by
    default) and, when an item is due, creates a run of this deployment and
    executes it at once. Operators may also start a run from the Prefect UI.
    An interval schedule would record ~8,600 mostly empty runs a day.

Why not ``prefect.serve()``: its runner starts a fresh Python interpreter per
flow run (``multiprocessing`` spawn). Measured on the project machine
(``bench/engine.py``), a served sweep run costs ~0.9 s of CPU and seconds of
latency; a drain every few seconds would keep a core busy. Executing the
deployment's runs in this process (``run_flow(flow, flow_run=...)``, after
claiming each run by proposing ``Pending``, as Prefect's runner does) costs
~0.1 s of worker CPU per run. Several workers may run side by side: the Pending proposal lets one
of them take a run, and ``claim_outbox`` leases split the outbox.

Nothing is lost while Prefect is down: the worker logs it, keeps polling, and
when the API answers again the outbox (which waited) is drained and the
sweep catches up.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from uuid import UUID

import sqlalchemy as sa

import workflows  # noqa: F401  (Prefect defaults first)
from engine.store import OUTBOX_CLAIMED, OUTBOX_PENDING, OutboxItem, Store, utc
from workflows.flows import (
    DRAIN_FLOW,
    SWEEP_FLOW,
    default_worker_name,
    drain_outbox,
    get_store,
    sweep_timers_flow,
    utcnow,
)

log = logging.getLogger("quytrinh.worker")

DEPLOYMENT = "quytrinh"
DRAIN_DEPLOYMENT = f"{DRAIN_FLOW}/{DEPLOYMENT}"
SWEEP_DEPLOYMENT = f"{SWEEP_FLOW}/{DEPLOYMENT}"

FLOWS = {DRAIN_FLOW: drain_outbox, SWEEP_FLOW: sweep_timers_flow}


@dataclass
class WorkerConfig:
    """How often the worker does what (seconds)."""

    name: str = field(default_factory=default_worker_name)
    sweep_every: float = 30.0     # the sweep deployment's interval schedule
    drain_poll: float = 2.0       # how often the outbox is checked for due items
    schedule_poll: float = 5.0    # how often due runs of the deployments are fetched
    disable_heartbeats: bool = True  # in-process sync flows: no ~1 s heartbeat join per run
    dossier_tags: bool = True     # tag task runs with their dossier (costly in Prefect 3.9, see flows.py)


@dataclass
class RunOutcome:
    """One deployment run the worker handled."""

    flow_run_id: UUID
    flow: str
    state: str            # Completed, Failed, Crashed, Superseded, Taken (another worker won it)
    result: Any = None
    seconds: float = 0.0


def outbox_due(store: Store, now: dt.datetime) -> int:
    """How many outbox items a drain at ``now`` would claim (pending and due, or with an expired lease)."""
    now = utc(now)
    claimable = sa.or_(
        sa.and_(OutboxItem.state == OUTBOX_PENDING, OutboxItem.available_at <= now),
        sa.and_(OutboxItem.state == OUTBOX_CLAIMED, OutboxItem.lease_until < now),
    )
    with store.session() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(OutboxItem).where(claimable)).scalar_one())


class Worker:
    """Serves the quytrinh deployments; see the module docstring.

    Parameters
    ----------
    config : WorkerConfig
    store : Store or None
        The database; ``$QUYTRINH_DATABASE_URL`` when None.
    """

    def __init__(self, config: WorkerConfig | None = None, store: Store | None = None):
        self.config = config or WorkerConfig()
        self.store = store or get_store()
        self.deployment_ids: dict[str, UUID] = {}
        self._prefect_down_since: float | None = None

    # -- registration

    def deployments(self) -> list[Any]:
        """The two :class:`prefect.deployments.runner.RunnerDeployment` objects (not yet applied)."""
        from prefect.types.entrypoint import EntrypointType

        drain = drain_outbox.to_deployment(
            name=DEPLOYMENT, entrypoint_type=EntrypointType.MODULE_PATH, tags=["quytrinh", "outbox"],
            description="Chạy các việc máy trong hàng đợi (outbox): giấy tiếp nhận, thông báo, biểu mẫu, "
                        "công bố kết quả, bước tự động.")
        sweep = sweep_timers_flow.to_deployment(
            name=DEPLOYMENT, interval=dt.timedelta(seconds=self.config.sweep_every),
            entrypoint_type=EntrypointType.MODULE_PATH, tags=["quytrinh", "timers"],
            description="Quét thời hạn: sắp đến hạn, quá hạn, dự thảo phiếu xin lỗi (Mẫu 04).")
        return [drain, sweep]

    def register(self) -> dict[str, UUID]:
        """Create or update the deployments in the Prefect API.

        Returns
        -------
        dict
            Flow name -> deployment id.
        """
        ids = {}
        for dep in self.deployments():
            ids[dep.flow_name] = dep.apply()
        self.deployment_ids = ids
        return ids

    # -- running deployment runs in this process

    def _client(self) -> Any:
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def execute(self, flow_run: Any) -> RunOutcome:
        """Claim ``flow_run`` (propose Pending) and run its flow here.

        Returns
        -------
        RunOutcome
            state ``Taken`` when another worker claimed it first.
        """
        from prefect.exceptions import Abort
        from prefect.flow_engine import run_flow
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state_sync

        flow_name = self._flow_name(flow_run)
        flow = FLOWS[flow_name]
        with self._client() as client:
            try:
                state = propose_state_sync(client, Pending(), flow_run_id=flow_run.id)
            except Abort:
                return RunOutcome(flow_run.id, flow_name, "Taken")
            if not state.is_pending():
                return RunOutcome(flow_run.id, flow_name, "Taken")
            flow_run = client.read_flow_run(flow_run.id)
        started = time.perf_counter()
        with self._heartbeats():
            final = run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
        result = final.result(raise_on_failure=False) if final.is_completed() else final.message
        return RunOutcome(flow_run.id, flow_name, final.name or str(final.type), result,
                          round(time.perf_counter() - started, 3))

    def _heartbeats(self) -> Any:
        import contextlib

        from workflows.settings import disable_heartbeats

        return disable_heartbeats() if self.config.disable_heartbeats else contextlib.nullcontext()

    def _flow_name(self, flow_run: Any) -> str:
        for name, dep_id in self.deployment_ids.items():
            if dep_id == flow_run.deployment_id:
                return name
        raise KeyError(f"flow run {flow_run.id} belongs to no quytrinh deployment")

    def run_due(self, now: dt.datetime | None = None) -> list[RunOutcome]:
        """Execute the due runs of the deployments (scheduled, late or started from the UI).

        Per deployment, only the newest due run executes; older due runs are
        closed as Cancelled ("Superseded"): one sweep or drain covers them all.

        Returns
        -------
        list[RunOutcome]
        """
        from prefect.states import Cancelled

        if not self.deployment_ids:
            self.register()
        now = now or utcnow()
        with self._client() as client:
            runs = client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=list(self.deployment_ids.values()), scheduled_before=now)
        by_deployment: dict[UUID, list[Any]] = {}
        for fr in runs:
            by_deployment.setdefault(fr.deployment_id, []).append(fr)
        outcomes: list[RunOutcome] = []
        for dep_runs in by_deployment.values():
            dep_runs.sort(key=lambda fr: (fr.expected_start_time or fr.created, str(fr.id)))
            newest = dep_runs[-1]
            with self._client() as client:
                for old in dep_runs[:-1]:
                    res = client.set_flow_run_state(old.id, Cancelled(
                        name="Superseded",
                        message=f"superseded by run {newest.name}: one run computes from the stored "
                                f"instants and catches up with every missed one"), force=False)
                    accepted = getattr(res.status, "value", str(res.status)) == "ACCEPT"
                    outcomes.append(RunOutcome(old.id, self._flow_name(old), "Superseded" if accepted else "Taken"))
            outcomes.append(self.execute(newest))
        return outcomes

    def drain_now(self) -> RunOutcome:
        """Create a run of the drain deployment and execute it here at once."""
        if not self.deployment_ids:
            self.register()
        with self._client() as client:
            fr = client.create_flow_run_from_deployment(
                self.deployment_ids[DRAIN_FLOW],
                parameters={"worker": self.config.name, "dossier_tags": self.config.dossier_tags},
                tags=["quytrinh", "woken"])
        return self.execute(fr)

    def drain_if_due(self, now: dt.datetime | None = None) -> RunOutcome | None:
        """Drain when the outbox has a due item (the cheap check runs first); None when nothing is due."""
        if outbox_due(self.store, now or utcnow()) == 0:
            return None
        return self.drain_now()

    def once(self) -> list[RunOutcome]:
        """One sweep and one drain, as deployment runs (for cron-style use and scripts)."""
        if not self.deployment_ids:
            self.register()
        with self._client() as client:
            fr = client.create_flow_run_from_deployment(self.deployment_ids[SWEEP_FLOW], tags=["quytrinh", "once"])
        outcomes = [self.execute(fr)]
        drained = self.drain_if_due()
        if drained is not None:
            outcomes.append(drained)
        return outcomes

    # -- the serving loops

    def _guarded(self, what: str, fn: Callable[[], Any]) -> bool:
        """Run ``fn``; on a failure (Prefect or the database unreachable) log it once and go on."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            if self._prefect_down_since is None:
                self._prefect_down_since = time.monotonic()
                log.warning("%s failed (%s: %s); the outbox and the timers wait, retrying", what,
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            return False
        if self._prefect_down_since is not None:
            log.warning("%s works again after %.0f s", what, time.monotonic() - self._prefect_down_since)
            self._prefect_down_since = None
        return True

    def serve(self, stop: threading.Event, on_run: Callable[[RunOutcome], None] | None = None) -> None:
        """Serve until ``stop`` is set: due deployment runs every ``schedule_poll`` s, the outbox every ``drain_poll`` s.

        Parameters
        ----------
        stop : threading.Event
            Set it (e.g. from a signal handler) to end both loops.
        on_run : callable, optional
            Called with each :class:`RunOutcome` (the CLI prints them).
        """
        report = on_run or (lambda outcome: None)
        while not stop.is_set() and not self._guarded("registering the deployments", self.register):
            stop.wait(min(30.0, self.config.schedule_poll * 2))

        def drain_loop() -> None:
            while not stop.is_set():
                def step() -> None:
                    outcome = self.drain_if_due()
                    if outcome is not None:
                        report(outcome)
                ok = self._guarded("draining the outbox", step)
                stop.wait(self.config.drain_poll if ok else max(self.config.drain_poll, 10.0))

        # The drain thread runs in a copy of this context: the same Prefect settings (API URL, heartbeats).
        context = contextvars.copy_context()
        drainer = threading.Thread(target=context.run, args=(drain_loop,), name="quytrinh-drain", daemon=True)
        drainer.start()
        try:
            while not stop.is_set():
                ok = self._guarded("running due deployment runs", lambda: [report(o) for o in self.run_due()])
                stop.wait(self.config.schedule_poll if ok else max(self.config.schedule_poll, 10.0))
        finally:
            stop.set()
            drainer.join(timeout=60)
