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

Nothing is lost while Prefect or the database is down: the worker logs the
outage once per cause (Prefect, the database) with the first loop that meets
it, keeps polling, and logs that the cause answers again only when a call to
it succeeded; then the outbox (which waited) is drained and the sweep catches
up. While the database is down no run is executed (it would only fail with a
traceback); the due runs wait and the newest executes when it is back.

A deployment the Prefect server no longer has is not an outage: an operator
deleted it (or the sweep's schedule) in the Prefect UI, or the server's
database was reset behind the same URL. Then no run of it ever comes due and
creating a drain run answers 404. Every turn of the schedule loop reads the
two deployments back (one filtered query), and a 404 on a drain run makes the
drain loop do the same; what is missing is registered again, as at start-up,
and said in one line (:meth:`Worker.check_deployments`). A deployment or
schedule the operator *paused* is left as it is.

A drain run a worker creates because its outbox is due ("woken", tagged
``woken``) is executed at once by that worker (:meth:`Worker.drain_now`). The
schedule loop leaves such a run alone while it is fresh (:data:`WOKEN_GRACE`):
otherwise the worker's two loops would race for the run it has just created,
and the loser would report it as taken. A woken run still scheduled after that
(its worker died between creating and claiming it) is due like any other.

A run deleted in the Prefect UI between the worker fetching it and claiming
it (the claim answers 404) is a race, not an error: one info line ("Lượt …
đã bị xóa trên máy chủ Prefect trước khi worker nhận; bỏ qua."), no
traceback, no outage, and the worker goes on (:meth:`Worker.execute` returns
None for it).
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

#: Hanoi time, in which every console line of ``quytrinh worker`` is stamped (marked ``+07``).
HANOI = dt.timezone(dt.timedelta(hours=7))
#: The mark after each stamp.
HANOI_MARK = "+07"

#: The causes of an outage the worker tells apart (see :func:`outage_cause`).
PREFECT, DATABASE = "prefect", "database"

DEPLOYMENT = "quytrinh"
DRAIN_DEPLOYMENT = f"{DRAIN_FLOW}/{DEPLOYMENT}"
SWEEP_DEPLOYMENT = f"{SWEEP_FLOW}/{DEPLOYMENT}"

FLOWS = {DRAIN_FLOW: drain_outbox, SWEEP_FLOW: sweep_timers_flow}

#: The tag of the drain runs a worker creates and executes at once (:meth:`Worker.drain_now`).
WOKEN_TAG = "woken"
#: How long the schedule loop leaves a woken run to the worker that created it. Creating and claiming it
#: takes well under a second; a woken run still scheduled after this lost its worker.
WOKEN_GRACE = dt.timedelta(minutes=2)


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
    state: str            # Completed, Failed, Crashed, Superseded, Taken (no longer scheduled: claimed first
                          # by another worker, or cancelled)
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


def is_fresh_woken(flow_run: Any, now: dt.datetime) -> bool:
    """Whether ``flow_run`` is a woken drain run created less than :data:`WOKEN_GRACE` before ``now``: the
    worker that created it is executing it (:meth:`Worker.drain_now`), so no schedule loop takes it."""
    created = getattr(flow_run, "created", None)
    return WOKEN_TAG in (getattr(flow_run, "tags", None) or ()) and created is not None \
        and created > now - WOKEN_GRACE


def outage_cause(exc: BaseException) -> str | None:
    """What an exception says is down: :data:`PREFECT` (the API), :data:`DATABASE`, or None (something else)."""
    import httpx
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return DATABASE
    if isinstance(exc, httpx.HTTPError):  # ConnectError, timeouts, PrefectHTTPStatusError (5xx)...
        return PREFECT
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is the Prefect API answering 404 (``ObjectNotFound`` or an HTTP status error)."""
    import httpx
    from prefect.exceptions import ObjectNotFound

    if isinstance(exc, ObjectNotFound):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 404


#: Why a deployment is registered again (see :meth:`Worker.check_deployments`).
GONE, UNSCHEDULED = "gone", "unscheduled"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class Outages:
    """Which causes are down since when, shared by the worker's loops (thread-safe).

    An outage is logged once, by the first loop that meets it; it ends (and
    "trả lời lại" is logged) only when a call to that very cause succeeded
    (:meth:`reached`), never because some other call went well.
    """

    def __init__(self, logger: logging.Logger = log, describe: Callable[[str], str] | None = None):
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._log = logger
        self._describe = describe or (lambda cause: cause)

    def down(self) -> set[str]:
        """The causes currently down."""
        with self._lock:
            return set(self._since)

    def failed(self, what: str, exc: BaseException) -> str:
        """Record that ``what`` failed with ``exc``; log it when its cause was not already down.

        Returns
        -------
        str
            The cause: ``prefect``, ``database`` or ``other:<what>``.
        """
        cause = outage_cause(exc) or f"other:{what}"
        with self._lock:
            if cause in self._since:
                return cause
            self._since[cause] = time.monotonic()
        if cause == PREFECT:
            self._log.warning("Không gọi được máy chủ Prefect %s khi %s (%s); hàng đợi việc máy và các mốc thời "
                              "hạn chờ, không mất gì; worker tiếp tục thử lại.", self._describe(PREFECT), what,
                              _first_line(exc))
        elif cause == DATABASE:
            self._log.warning("Không dùng được cơ sở dữ liệu %s khi %s (%s); hàng đợi việc máy và các mốc thời "
                              "hạn chờ, không mất gì; worker tiếp tục thử lại.", self._describe(DATABASE), what,
                              _first_line(exc))
        else:  # not an outage we know: keep the traceback for whoever fixes it
            self._log.warning("Lỗi khi %s (%s); worker tiếp tục thử lại.", what, _first_line(exc), exc_info=exc)
        return cause

    def reached(self, cause: str) -> None:
        """A call to ``cause`` succeeded: end its outage, if any, and log how long it lasted."""
        with self._lock:
            since = self._since.pop(cause, None)
        if since is None:
            return
        seconds = time.monotonic() - since
        if cause == PREFECT:
            self._log.warning("Máy chủ Prefect %s trả lời lại sau %.0f s; worker chạy bù hàng đợi và lượt quét "
                              "thời hạn.", self._describe(PREFECT), seconds)
        elif cause == DATABASE:
            self._log.warning("Cơ sở dữ liệu %s dùng được lại sau %.0f s.", self._describe(DATABASE), seconds)
        else:
            self._log.warning("Việc %s chạy lại bình thường sau %.0f s.", cause.split(":", 1)[1], seconds)


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
        self.outages = Outages(describe=self._where)
        self._registering = threading.Lock()  # one loop at a time registers a missing deployment again

    def _where(self, cause: str) -> str:
        if cause == PREFECT:
            from prefect.settings import get_current_settings

            return f"ở {get_current_settings().api.url}"
        return f"ở {self.store.engine.url.render_as_string(hide_password=True)}"

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

    def register(self, only: set[str] | None = None) -> dict[str, UUID]:
        """Create or update the deployments in the Prefect API.

        Parameters
        ----------
        only : set of str, optional
            The flow names whose deployments to apply (all when None); the
            others keep their id and are not touched (a schedule an operator
            paused stays paused).

        Returns
        -------
        dict
            Flow name -> deployment id.
        """
        ids = dict(self.deployment_ids) if only is not None else {}
        for dep in self.deployments():
            if only is None or dep.flow_name in only:
                try:
                    ids[dep.flow_name] = dep.apply()
                except Exception as exc:  # noqa: BLE001
                    if not is_not_found(exc):
                        raise
                    # Deleted between apply's read and its update (an operator, a reset): create it.
                    ids[dep.flow_name] = dep.apply()
        self.outages.reached(PREFECT)
        self.deployment_ids = ids
        return ids

    def missing_deployments(self, client: Any) -> dict[str, str]:
        """What the Prefect server lacks of the registered deployments (one filtered read).

        Returns
        -------
        dict
            Flow name -> :data:`GONE` (no such deployment: deleted, or the
            server's database reset) or :data:`UNSCHEDULED` (the sweep
            deployment without any schedule). A paused deployment or an
            inactive schedule is not missing: an operator paused it.
        """
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        ids = dict(self.deployment_ids)
        found = {dep.id: dep for dep in client.read_deployments(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(ids.values()))))}
        self.outages.reached(PREFECT)
        missing = {}
        for flow_name, dep_id in ids.items():
            dep = found.get(dep_id)
            if dep is None:
                missing[flow_name] = GONE
            elif flow_name == SWEEP_FLOW and not dep.schedules:
                missing[flow_name] = UNSCHEDULED
        return missing

    def check_deployments(self) -> dict[str, str]:
        """Register again, as at start-up, a deployment the Prefect server no longer has; one line when it did.

        An operator deleted the deployment or the sweep's schedule in the
        Prefect UI, or the server's database was reset behind the same URL:
        Prefect answers, but no run of the deployment ever comes due again and
        creating a drain run answers 404. This is not an outage (nothing to
        wait for): the worker applies the missing deployments again. A
        deployment that another worker already registered again is only
        adopted (its new id), without a line.

        Returns
        -------
        dict
            Flow name -> :data:`GONE` or :data:`UNSCHEDULED`, for what this
            call registered again (empty when nothing was missing).
        """
        if not self.deployment_ids:
            self.register()
            return {}
        stale = dict(self.deployment_ids)
        with self._client() as client:
            missing = self.missing_deployments(client)
        if not missing:
            return {}
        with self._registering:
            if self.deployment_ids != stale:  # the other loop registered them meanwhile
                return {}
            adopted = dict(stale)
            with self._client() as client:
                for flow_name in [f for f, why in missing.items() if why == GONE]:
                    try:
                        dep = client.read_deployment_by_name(f"{flow_name}/{DEPLOYMENT}")
                    except Exception as exc:  # noqa: BLE001
                        if not is_not_found(exc):
                            raise
                        continue
                    if flow_name != SWEEP_FLOW or dep.schedules:  # another worker registered it again
                        adopted[flow_name] = dep.id
                        del missing[flow_name]
            self.deployment_ids = adopted
            if missing:
                self.register(only=set(missing))
                self._log_registered_again(missing)
        return missing

    def _log_registered_again(self, missing: dict[str, str]) -> None:
        what = []
        for flow_name, why in sorted(missing.items()):
            if why == GONE:
                what.append(f"không còn deployment {flow_name}/{DEPLOYMENT}")
            else:
                what.append(f"deployment {flow_name}/{DEPLOYMENT} không còn lịch chạy")
        log.warning("Trên máy chủ Prefect %s, %s (bị xóa trên giao diện Prefect, hoặc cơ sở dữ liệu của máy chủ "
                    "Prefect được làm mới); worker đã đăng ký lại như khi khởi động: quét thời hạn theo lịch mỗi "
                    "%g s, hàng đợi việc máy chạy qua Prefect như trước. Muốn dừng quét thời hạn, hãy tạm dừng "
                    "(Pause) deployment thay vì xóa.", self._where(PREFECT), "; ".join(what),
                    self.config.sweep_every)

    def _create_run(self, flow_name: str, **kwargs: Any) -> Any:
        """A run of ``flow_name``'s deployment; on a 404, the deployment is registered again and the run created on it."""
        dep_id = self.deployment_ids[flow_name]
        try:
            with self._client() as client:
                return client.create_flow_run_from_deployment(dep_id, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if not is_not_found(exc):
                raise
            self.outages.reached(PREFECT)  # a 404 is Prefect answering
            self.check_deployments()
            if self.deployment_ids.get(flow_name) == dep_id:  # it was not the deployment that was missing
                raise
        with self._client() as client:
            return client.create_flow_run_from_deployment(self.deployment_ids[flow_name], **kwargs)

    def check_database(self) -> None:
        """One cheap query of the outbox; raises the driver's error when the database does not answer."""
        outbox_due(self.store, utcnow())
        self.outages.reached(DATABASE)

    # -- running deployment runs in this process

    def _client(self) -> Any:
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def execute(self, flow_run: Any) -> RunOutcome | None:
        """Claim ``flow_run`` (propose Pending) and run its flow here.

        Returns
        -------
        RunOutcome or None
            state ``Taken`` when the run was no longer scheduled (another worker
            claimed it first, or it was cancelled); None when the run was
            deleted in Prefect before it was claimed (said in one line).
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
                if not state.is_pending():
                    return RunOutcome(flow_run.id, flow_name, "Taken")
                flow_run = client.read_flow_run(flow_run.id)
            except Abort:
                return RunOutcome(flow_run.id, flow_name, "Taken")
            except Exception as exc:  # noqa: BLE001
                if not is_not_found(exc):
                    raise
                self._deleted(flow_run, flow_name)
                return None
        started = time.perf_counter()
        with self._heartbeats():
            final = run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
        result = final.result(raise_on_failure=False) if final.is_completed() else final.message
        return RunOutcome(flow_run.id, flow_name, final.name or str(final.type), result,
                          round(time.perf_counter() - started, 3))

    def _deleted(self, flow_run: Any, flow_name: str) -> None:
        """``flow_run`` was deleted in Prefect before this worker claimed it: a race, said in one line."""
        self.outages.reached(PREFECT)  # a 404 is Prefect answering
        what = "chạy hàng đợi việc máy" if flow_name == DRAIN_FLOW else "quét thời hạn"
        log.info("Lượt %s %s đã bị xóa trên máy chủ Prefect trước khi worker nhận; bỏ qua.", what,
                 getattr(flow_run, "name", None) or flow_run.id)

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
        A fresh woken drain run (:func:`is_fresh_woken`) is left to the worker
        executing it.

        Returns
        -------
        list[RunOutcome]
        """
        from prefect.states import Cancelled

        if not self.deployment_ids:
            self.register()
        # A deleted deployment (or schedule) has no due run ever again, and says nothing: look every turn.
        self.check_deployments()
        now = now or utcnow()
        with self._client() as client:
            runs = client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=list(self.deployment_ids.values()), scheduled_before=now)
        self.outages.reached(PREFECT)
        if runs:
            # A run while the database is down only fails (with a traceback); the due runs wait for it.
            self.check_database()
        by_deployment: dict[UUID, list[Any]] = {}
        for fr in runs:
            if not is_fresh_woken(fr, now):
                by_deployment.setdefault(fr.deployment_id, []).append(fr)
        outcomes: list[RunOutcome] = []
        for dep_runs in by_deployment.values():
            dep_runs.sort(key=lambda fr: (fr.expected_start_time or fr.created, str(fr.id)))
            newest = dep_runs[-1]
            with self._client() as client:
                for old in dep_runs[:-1]:
                    try:
                        res = client.set_flow_run_state(old.id, Cancelled(
                            name="Superseded",
                            # (by id: the newest is renamed when it starts, workflows.flows.run_name)
                            message=f"Được gộp vào lượt mới nhất (id {newest.id}): một lượt tính từ các mốc đã "
                                    f"lưu và làm bù mọi lượt đã lỡ."), force=False)
                    except Exception as exc:  # noqa: BLE001
                        if not is_not_found(exc):
                            raise
                        self._deleted(old, self._flow_name(old))
                        continue
                    accepted = getattr(res.status, "value", str(res.status)) == "ACCEPT"
                    outcomes.append(RunOutcome(old.id, self._flow_name(old), "Superseded" if accepted else "Taken"))
            outcome = self.execute(newest)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def drain_now(self) -> RunOutcome | None:
        """Create a run of the drain deployment and execute it here at once (None: deleted before it was claimed)."""
        if not self.deployment_ids:
            self.register()
        fr = self._create_run(DRAIN_FLOW, tags=["quytrinh", WOKEN_TAG],
                              parameters={"worker": self.config.name, "dossier_tags": self.config.dossier_tags})
        self.outages.reached(PREFECT)
        return self.execute(fr)

    def drain_if_due(self, now: dt.datetime | None = None) -> RunOutcome | None:
        """Drain when the outbox has a due item (the cheap check runs first); None when nothing is due."""
        due = outbox_due(self.store, now or utcnow())
        self.outages.reached(DATABASE)
        if due == 0:
            return None
        return self.drain_now()

    def once(self) -> list[RunOutcome]:
        """One sweep and one drain, as deployment runs (for cron-style use and scripts)."""
        if not self.deployment_ids:
            self.register()
        self.check_database()
        fr = self._create_run(SWEEP_FLOW, tags=["quytrinh", "once"])
        outcomes = [o for o in (self.execute(fr),) if o is not None]
        drained = self.drain_if_due()
        if drained is not None:
            outcomes.append(drained)
        return outcomes

    # -- the serving loops

    def _guarded(self, what: str, fn: Callable[[], Any]) -> bool:
        """Run ``fn``; a failure is recorded in :attr:`outages` (logged once per cause) and the loop goes on.

        ``fn`` ends an outage only through the calls that reach its cause
        (:meth:`Outages.reached`); an outage of another kind (``other:<what>``)
        ends when ``fn`` completes.
        """
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            self.outages.failed(what, exc)
            return False
        self.outages.reached(f"other:{what}")
        return True

    def poll_schedule(self, report: Callable[[RunOutcome], None] | None = None) -> bool:
        """One turn of the schedule loop: execute the due deployment runs. False when it failed (logged once)."""
        report = report or (lambda outcome: None)
        return self._guarded("lấy các lượt chạy đến hạn", lambda: [report(o) for o in self.run_due()])

    def poll_outbox(self, report: Callable[[RunOutcome], None] | None = None) -> bool:
        """One turn of the drain loop: drain when the outbox has a due item. False when it failed (logged once)."""
        report = report or (lambda outcome: None)

        def step() -> None:
            outcome = self.drain_if_due()
            if outcome is not None:
                report(outcome)
        return self._guarded("chạy hàng đợi việc máy", step)

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
        while not stop.is_set() and not self._guarded("đăng ký các deployment", self.register):
            stop.wait(min(30.0, self.config.schedule_poll * 2))

        def drain_loop() -> None:
            while not stop.is_set():
                ok = self.poll_outbox(report)
                stop.wait(self.config.drain_poll if ok else max(self.config.drain_poll, 10.0))

        # The drain thread runs in a copy of this context: the same Prefect settings (API URL, heartbeats).
        context = contextvars.copy_context()
        drainer = threading.Thread(target=context.run, args=(drain_loop,), name="quytrinh-drain", daemon=True)
        drainer.start()
        try:
            while not stop.is_set():
                ok = self.poll_schedule(report)
                stop.wait(self.config.schedule_poll if ok else max(self.config.schedule_poll, 10.0))
        finally:
            stop.set()
            drainer.join(timeout=60)


# --------------------------------------------------------------------------- console lines


def stamp(now: dt.datetime | None = None) -> str:
    """``HH:MM:SS.mmm+07``: the time at the head of each console line of the worker, in Hanoi time."""
    t = (now or dt.datetime.now(HANOI)).astimezone(HANOI)
    return f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}{HANOI_MARK}"


def _hanoi_time(seconds: float | None) -> time.struct_time:
    return dt.datetime.fromtimestamp(seconds if seconds is not None else time.time(), HANOI).timetuple()


#: Level names of the worker's own lines.
LEVELS_VI = {"DEBUG": "GỠ LỖI", "INFO": "THÔNG TIN", "WARNING": "CẢNH BÁO", "ERROR": "LỖI", "CRITICAL": "NGHIÊM TRỌNG"}


class WorkerLogFormatter(logging.Formatter):
    """The worker's own log lines: ``HH:MM:SS.mmm+07 | CẢNH BÁO | message`` (Hanoi time, marked)."""

    def format(self, record: logging.LogRecord) -> str:
        head = f"{stamp(dt.datetime.fromtimestamp(record.created, HANOI))} | {LEVELS_VI.get(record.levelname, record.levelname)} | "
        text = head + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


_PREFECT_TIME = "%(asctime)s.%(msecs)03d"


def use_hanoi_time_in_console_logs(stream: Any = None) -> None:
    """Stamp every console log line of this process in Hanoi time, marked ``+07`` (``quytrinh worker`` calls it).

    The worker's own logger (``quytrinh.worker``) gets its own handler and
    :class:`WorkerLogFormatter`; Prefect's console handlers keep their format,
    with the time converted to Hanoi time and ``+07`` after it (Prefect stamps
    them in the machine's local time, unmarked, which is UTC on most servers).
    """
    import sys

    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(WorkerLogFormatter())
    log.handlers[:] = [handler]
    log.propagate = False
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    seen: set[int] = set()
    for lg in loggers:
        for h in lg.handlers:
            if id(h) in seen or h is handler or not isinstance(h, logging.StreamHandler) or h.formatter is None:
                continue
            seen.add(id(h))
            h.setFormatter(_hanoi_formatter(h.formatter))


def _hanoi_formatter(old: logging.Formatter) -> logging.Formatter:
    fmt = getattr(old, "_fmt", None) or ""
    if getattr(old, "_quytrinh_hanoi", False) or _PREFECT_TIME not in fmt:
        return old
    marked = _PREFECT_TIME + HANOI_MARK
    try:
        from prefect.logging.formatters import PrefectFormatter
    except ImportError:  # pragma: no cover - Prefect is a dependency
        PrefectFormatter = None  # type: ignore[assignment,misc]
    if PrefectFormatter is not None and isinstance(old, PrefectFormatter):
        new: logging.Formatter = PrefectFormatter(
            fmt.replace(_PREFECT_TIME, marked), old.datefmt,
            flow_run_fmt=(old.flow_run_fmt or fmt).replace(_PREFECT_TIME, marked),
            task_run_fmt=(old.task_run_fmt or fmt).replace(_PREFECT_TIME, marked))
    else:
        new = logging.Formatter(fmt.replace(_PREFECT_TIME, marked), old.datefmt)
    new.converter = _hanoi_time  # type: ignore[method-assign]
    new._quytrinh_hanoi = True  # type: ignore[attr-defined]
    return new
