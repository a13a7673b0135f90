"""The Prefect flows of quytrinh: the outbox drain and the SLA timer sweep.

:func:`drain_outbox`
    claims due outbox items (:func:`engine.services.claim_outbox`, with a
    lease) and runs each as a Prefect task run with retries, tagged
    ``dossier:<code>``, ``procedure:<code>`` and ``unit:<id>`` and named after
    the effect (``issue_receipt · <dossier>``), so operators find every
    dossier's machine work in the Prefect UI. A success marks the item done;
    a failure after the task's retries puts it back with a back-off
    (``fail_outbox(retry_at=...)``) until
    ``max_attempts``, then records it failed — never lost. An automated step
    whose work item was cancelled meanwhile (the dossier withdrawn or stopped)
    is no failure: its task run ends ``Completed`` named ``Skipped`` and the
    item is recorded ``skipped`` (:func:`skip_outbox`). A worker that dies
    mid-item leaves it claimed; once its lease expires another drain claims
    it, and the idempotency key keeps the side effect single. An item deleted
    from the outbox while the run works on it is skipped with one warning
    (``deleted``); the rest of the batch goes on.

    A transient error is one Vietnamese line per attempt, without a traceback:
    Prefect's own lines about the task run's retries are replaced or dropped
    (:class:`RetryLines`); the traceback comes once, with the line saying the
    item was given up.

:func:`sweep_timers_flow`
    fires the SLA timers at ``now``: items turn nearly due / overdue, overdue
    dossiers are flagged, apology drafts (form 04) are written, and the unit
    heads' notifications go to the outbox (:func:`engine.services.sweep_timers`
    does the database work from stored instants, so one late run catches up
    with everything missed). A transient database error (the database locked,
    a dropped connection) is one Vietnamese warning without a traceback, and
    the run ends ``Failed``: the next scheduled sweep does the work.

Both flows are synchronous and read the wall clock only when ``now`` is not
given. The database is ``$QUYTRINH_DATABASE_URL`` (never a flow parameter: it
would show in the Prefect UI with its password).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import re
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import workflows  # noqa: F401  (applies the project's Prefect defaults before Prefect loads)
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from engine import services
from engine.store import OUTBOX_SKIPPED, Store, database_url, init_db
from workflows.effects import (
    SKIP_CANCELLED,
    SKIP_REASONS_VI,
    DeliveryLog,
    EffectContext,
    OutboxWork,
    PermanentEffectError,
    deliveries_path,
    is_skipped,
    perform,
)

UTC = dt.timezone.utc

#: Names of the flows (and so of their deployments' flows in the Prefect UI).
DRAIN_FLOW = "quytrinh-drain-outbox"
SWEEP_FLOW = "quytrinh-sweep-timers"

#: Back-off before an item that failed all its task retries is claimed again,
#: by the number of attempts so far (the last value repeats).
BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2))

_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def get_store() -> Store:
    """The :class:`engine.store.Store` of ``$QUYTRINH_DATABASE_URL``, one per URL per process.

    The first use in a process migrates the database to the newest schema
    (:func:`engine.store.init_db`: one query when it is already there), as every
    other command does; a failure is raised and the next call tries again.
    """
    url = database_url()
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = init_db(url)
        return store


def close_stores() -> None:
    """Dispose of the cached stores (their pooled connections); the next :func:`get_store` opens anew."""
    with _STORES_LOCK:
        stores = list(_STORES.values())
        _STORES.clear()
    for store in stores:
        store.dispose()


def default_worker_name() -> str:
    """``host:pid``: the lease owner written on claimed outbox items."""
    return f"{socket.gethostname()}:{os.getpid()}"


def utcnow() -> dt.datetime:
    """The wall clock, aware, in UTC (the flows' only clock read)."""
    return dt.datetime.now(UTC)


def _aware(now: dt.datetime | None) -> dt.datetime | None:
    if now is None:
        return None
    if now.tzinfo is None:
        raise ValueError(f"'now' must be timezone-aware, got {now.isoformat()}")
    return now.astimezone(UTC)


def tags_for(work: OutboxWork, dossier_tag: bool = True) -> list[str]:
    """The Prefect tags of an outbox item's task run: ``dossier:``, ``procedure:`` and ``unit:``.

    The effect kind is the task's name, not a tag: every distinct tag set
    costs a Prefect client-side service (see :func:`release_tag_services`),
    so the sets are kept to one per dossier and unit. Without
    ``dossier_tag`` the dossier is only in the task run's name and the sets
    are bounded (procedures x units).
    """
    tags = [f"procedure:{work.procedure_code}"]
    if dossier_tag:
        tags.insert(0, f"dossier:{work.dossier_code}")
    if work.unit:
        tags.append(f"unit:{work.unit}")
    return tags


def backoff(attempts: int) -> dt.timedelta:
    """The wait before an item that failed ``attempts`` times is claimed again."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry unless the side effect failed for good."""
    try:
        state.result()
    except PermanentEffectError:
        return False
    except Exception:
        return True
    return True


@task(name="outbox-item", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_transient,
      cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def run_outbox_item(work: OutboxWork, now: dt.datetime | None, worker: str) -> dict[str, Any]:
    """Perform one outbox item's side effect (a Prefect task run; retried on transient errors).

    Parameters
    ----------
    work : OutboxWork
        The claimed item.
    now : datetime or None
        The instant of the effect; the wall clock when None.
    worker : str
        The lease owner (recorded with deliveries).

    Returns
    -------
    dict
        What the handler did.
    """
    from prefect.states import Completed

    ctx = EffectContext(store=get_store(), now=_aware(now) or utcnow(), worker=worker,
                        log=DeliveryLog(deliveries_path()))
    result = perform(ctx, work)
    text = done_text(work, result)
    get_run_logger().info("%s", text)
    if is_skipped(result):  # not performed, and not an error: the task run's state says so, and why
        why = SKIP_REASONS_VI.get(str(result["skipped"]), str(result["skipped"]))
        return Completed(name=SKIPPED_STATE, message=f"Bỏ qua vì {why}.", data=result)
    return result


#: The name of the (``Completed``) state of a task run whose outbox item was skipped.
SKIPPED_STATE = "Skipped"


#: What a skipped outbox item of each kind did not do, as its log line says it.
SKIPPED_WHAT_VI = {"run_automated_step": "không chạy bước tự động",
                   "notify_unit": "không gửi thông báo đơn vị về bước",
                   "notify_user": "không gửi thông báo cán bộ về bước"}


#: How a delivery channel is said in the logs.
CHANNELS_VI = {"document": "văn bản", "unit": "thông báo đơn vị", "user": "thông báo cán bộ",
               "citizen": "thông báo người nộp", "unit_head": "thông báo lãnh đạo đơn vị",
               "portal": "đồng bộ cổng dịch vụ công"}


def done_text(work: OutboxWork, result: Any) -> str:
    """The Vietnamese log line of an outbox item done (the Prefect UI's task run log, the worker's console):
    what went to whom, and the message itself; a delivery made before (a re-run after a crash) is said so."""
    head = f"Việc máy {work.id} ({work.kind}), hồ sơ {work.dossier_code}"
    if not isinstance(result, dict):
        return f"{head}: xong."
    if is_skipped(result):
        why = SKIP_REASONS_VI.get(str(result["skipped"]), str(result["skipped"]))
        step = f" '{result['step']}'" if result.get("step") else ""
        cancelled = "" if result["skipped"] == SKIP_CANCELLED else "; công việc của bước đã hủy"
        what = SKIPPED_WHAT_VI.get(work.kind, "không thực hiện việc của bước")
        return (f"{head}: {what}{step} vì {why}{cancelled}, việc máy được ghi là bỏ qua "
                f"(skipped), không phải lỗi, không thử lại.")
    if "completed" in result:  # run_automated_step
        again = " (đã hoàn thành trước đó, không làm lại)" if result.get("replayed") else ""
        return (f"{head}: bước tự động, công việc {result['completed']}, hoàn thành với kết quả "
                f"{result.get('outcome') or '–'}{again}.")
    channel = CHANNELS_VI.get(str(result.get("channel")), str(result.get("channel") or ""))
    sent = "đã gửi trước đó, không gửi lại" if result.get("duplicate") else "đã gửi"
    message = result.get("message")
    to = RECIPIENTS_VI.get(str(result.get("to")), result.get("to") or "–")
    return f"{head}: {channel} {sent} đến {to}" + (f": {message}" if message else ".")


#: Recipients of deliveries that are not a unit or a user, as the logs say them.
RECIPIENTS_VI = {"citizen": "người nộp hồ sơ", "cong_dich_vu_cong": "Cổng dịch vụ công"}


#: Names of the flows' runs in the Prefect UI: what it is and when it started, in Hanoi time, as the worker's log
#: stamps its line about the run (``hàng đợi việc máy 16:10:33 28.11.2026``), instead of Prefect's random names.
DRAIN_RUN_NAME = "hàng đợi việc máy"
SWEEP_RUN_NAME = "quét thời hạn"


def run_name(what: str, at: dt.datetime | None = None) -> str:
    """``<what> HH:MM:SS dd.mm.yyyy``, the instant ``at`` (default: now) in Hanoi time."""
    local = (at or utcnow()).astimezone(dt.timezone(dt.timedelta(hours=7)))
    return f"{what} {local:%H:%M:%S} {local:%d.%m.%Y}"


def _drain_run_name() -> str:
    return run_name(DRAIN_RUN_NAME)


def _sweep_run_name() -> str:
    return run_name(SWEEP_RUN_NAME)


@flow(name=DRAIN_FLOW, flow_run_name=_drain_run_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def drain_outbox(batch: int = 20, max_items: int = 500, lease_seconds: int = 300, max_attempts: int = 5,
                 worker: str | None = None, now: dt.datetime | None = None,
                 task_retries: int | None = None, retry_delay_seconds: float | None = None,
                 dossier_tags: bool = True, retry_failed: bool = False,
                 dossier: str | None = None) -> dict[str, Any]:
    """Run the due outbox items, one Prefect task run each, until none is due (or ``max_items``).

    Parameters
    ----------
    batch : int
        Items claimed per claim (one transaction).
    max_items : int
        Stop after this many items (the next run continues).
    lease_seconds : int
        How long a claim holds; an item still claimed after it is claimable again.
    max_attempts : int
        Claims after which a failing item is recorded ``failed`` (needs an operator).
    worker : str or None
        The lease owner; ``host:pid`` when None.
    now : datetime or None
        The instant used to claim and perform (virtual time in tests); the wall clock when None.
    task_retries, retry_delay_seconds : optional
        Override the task's retries (2) and delays (2 s, 10 s).
    dossier_tags : bool
        Tag each task run with its dossier (default). Each new tag set costs
        Prefect a client-side service, ~30 ms of worker CPU and ~35 ms of
        latency per item (measured, see docs/prefect.md; its slot request is
        skipped, :class:`TagLimits`); without, the dossier is in the task
        run's name only.
    retry_failed : bool
        First put the items given up (state ``failed``) back in the queue, due
        now, with a fresh count of attempts (:func:`requeue_failed`): what an
        operator does from the Prefect UI (*Run* → *Custom run*) once the cause
        is mended (the mailbox folder, the gateway).
    dossier : str or None
        With ``retry_failed``, only that dossier's failed items (its code).

    Returns
    -------
    dict
        ``{"flow_run_id", "requeued", "claimed", "done", "skipped", "retry_later", "failed", "lost_lease",
        "deleted", "items": [...]}``; ``deleted`` counts the items deleted from the outbox while the run
        worked on them (skipped, with a warning each: the rest of the batch goes on).
    """
    store = get_store()
    worker = worker or default_worker_name()
    fixed_now = _aware(now)
    lease = dt.timedelta(seconds=lease_seconds)
    item_task = run_outbox_item
    if task_retries is not None or retry_delay_seconds is not None:
        item_task = run_outbox_item.with_options(
            retries=task_retries if task_retries is not None else 2,
            retry_delay_seconds=retry_delay_seconds if retry_delay_seconds is not None else [2, 10])
    from prefect.runtime import flow_run

    report: dict[str, Any] = {"flow_run_id": str(flow_run.id), "requeued": 0, "claimed": 0, "done": 0,
                              "skipped": 0, "retry_later": 0, "failed": 0, "lost_lease": 0, "deleted": 0,
                              "items": []}
    logger = get_run_logger()
    RetryLines.install()
    if retry_failed:
        report["requeued"] = len(requeue_failed(store, fixed_now or utcnow(), dossier=dossier, logger=logger))
    tagger = RunTagger(flow_run.id, list(flow_run.tags or []), logger) if dossier_tags else None
    try:
        _drain_loop(store, worker, fixed_now, lease, batch, max_items, max_attempts, item_task, report, logger,
                    dossier_tags, tagger, TagLimits(logger))
    finally:
        release_tag_services()
    return report


def _drain_loop(store: Store, worker: str, fixed_now: dt.datetime | None, lease: dt.timedelta, batch: int,
                max_items: int, max_attempts: int, item_task: Any, report: dict[str, Any], logger: Any,
                dossier_tags: bool, tagger: "RunTagger | None" = None,
                limits: "TagLimits | None" = None) -> None:
    while report["claimed"] < max_items:
        t = fixed_now or utcnow()
        rows = services.claim_outbox(store, worker=worker, limit=min(batch, max_items - report["claimed"]),
                                     now=t, lease=lease)
        if not rows:
            break
        report["claimed"] += len(rows)
        if tagger is not None:  # before the batch runs: the run is found by its dossiers while it works on them
            tagger.add([OutboxWork.of(row).dossier_code for row in rows])
        if limits is not None:
            limits.refresh()
        renew_at = t + lease / 2  # past it, the rest of the batch has its leases extended before going on
        lost: set[int] = set()
        for k, row in enumerate(rows):
            work = OutboxWork.of(row)
            now = fixed_now or utcnow()
            if fixed_now is None and now >= renew_at:
                rest = [r.id for r in rows[k:]]
                kept = set(services.renew_outbox_lease(store, rest, worker=worker, now=now, lease=lease))
                lost.update(i for i in rest if i not in kept)
                renew_at = now + lease / 2
            if work.id in lost:  # its lease ran out and another drain claimed it: that drain runs it
                report["lost_lease"] += 1
                report["items"].append({"id": work.id, "kind": work.kind, "dossier": work.dossier_code,
                                        "state": "lost_lease", "error": "lease expired before it was reached"})
                logger.warning("Việc máy %s (%s, hồ sơ %s): hết hạn giữ việc trước khi tới lượt, một worker khác "
                               "đã nhận; worker này không chạy nó.", work.id, work.kind, work.dossier_code)
                continue
            tags = tags_for(work, dossier_tags)
            if limits is not None:
                limits.seed(tags)
            token = _RUNNING.set(work)
            try:
                state = item_task.with_options(
                    name=f"{work.kind}", tags=tags,
                    task_run_name=f"{work.kind} · {work.dossier_code}",
                )(work, fixed_now, worker, return_state=True)
            finally:
                _RUNNING.reset(token)
            done_at = fixed_now or utcnow()
            entry = {"id": work.id, "kind": work.kind, "dossier": work.dossier_code}
            try:
                result = state.result(raise_on_failure=False) if state.is_completed() else None
                if state.is_completed() and is_skipped(result):
                    skip_outbox(store, work.id, worker=worker, now=done_at, result=result)
                    report["skipped"] += 1
                    entry.update(state="skipped", reason=result["skipped"])
                elif state.is_completed():
                    services.complete_outbox(store, work.id, worker=worker, now=done_at, result=result)
                    report["done"] += 1
                    entry["state"] = "done"
                else:
                    error = _error_text(state)
                    permanent = _is_permanent(state)
                    give_up = permanent or work.attempts >= max_attempts
                    retry_at = None if give_up else done_at + backoff(work.attempts)
                    services.fail_outbox(store, work.id, worker=worker, now=done_at, error=error, retry_at=retry_at)
                    report["failed" if give_up else "retry_later"] += 1
                    entry.update(state="failed" if give_up else "retry_later", error=error,
                                 retry_at=retry_at.isoformat() if retry_at else None)
                    if give_up:  # the one line with the traceback (Prefect's own were dropped: RetryLines)
                        why = ("lỗi không thể khắc phục bằng cách thử lại" if permanent
                               else f"đã thử {work.attempts} lần")
                        exc = _exception(state)
                        logger.error("Việc máy %s (%s, hồ sơ %s) thất bại: %s; %s: đã dừng thử, việc được giữ "
                                     "ở trạng thái failed trong bảng outbox để người vận hành xử lý.", work.id,
                                     work.kind, work.dossier_code, error, why,
                                     exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)
                    else:
                        logger.warning("Việc máy %s (%s, hồ sơ %s) thất bại (lần %s): %s; sẽ thử lại từ %s.",
                                       work.id, work.kind, work.dossier_code, work.attempts, error,
                                       hanoi_time(retry_at))
            except services.NotFound:
                # Deleted from the outbox (by hand, say) while this run worked on it: nothing to record its
                # outcome on, and no reason to fail the rest of the batch.
                report["deleted"] += 1
                entry.update(state="deleted", error="deleted from the outbox while the drain ran it")
                what = ("đã làm xong nhưng không còn dòng để ghi kết quả" if state.is_completed()
                        else "gặp lỗi và sẽ không được thử lại")
                logger.warning("Việc máy %s (%s, hồ sơ %s) đã bị xóa khỏi hàng đợi (bảng outbox) trong khi lượt này "
                               "chạy nó: việc %s; bỏ qua, các việc còn lại của lượt vẫn chạy.", work.id, work.kind,
                               work.dossier_code, what)
            except services.StaleVersion as exc:
                # Our lease expired and another worker holds the item: it will finish it.
                report["lost_lease"] += 1
                entry.update(state="lost_lease", error=str(exc))
                logger.warning("Việc máy %s (%s, hồ sơ %s): worker này đã mất quyền giữ việc (hết hạn giữ); "
                               "worker đang giữ sẽ làm tiếp, không làm hai lần. (%s)", work.id, work.kind,
                               work.dossier_code, exc)
            report["items"].append(entry)


def skip_outbox(store: Store, item_id: int, *, worker: str, now: dt.datetime, result: dict[str, Any]) -> None:
    """Record a claimed outbox item :data:`OUTBOX_SKIPPED`: final, with ``result`` (why), no error.

    Guarded as :func:`engine.services.complete_outbox` is: only while ``worker`` holds the item.

    Raises
    ------
    engine.errors.NotFound
        When the item does not exist.
    engine.errors.StaleVersion
        When ``worker`` no longer holds it (its lease expired and another worker claimed it).
    """
    import sqlalchemy as sa

    from engine.errors import NotFound, StaleVersion
    from engine.store import OUTBOX_CLAIMED, OutboxItem

    with store.write() as s:
        res = s.execute(sa.update(OutboxItem)
                        .where(OutboxItem.id == item_id, OutboxItem.state == OUTBOX_CLAIMED,
                               OutboxItem.lease_owner == worker)
                        .values(state=OUTBOX_SKIPPED, completed_at=now.astimezone(UTC), result=result,
                                lease_until=None, last_error=None)
                        .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            row = s.execute(sa.select(OutboxItem.state, OutboxItem.lease_owner)
                            .where(OutboxItem.id == item_id)).first()
            if row is None:
                raise NotFound(f"skip_outbox: outbox item {item_id} does not exist")
            raise StaleVersion(f"skip_outbox: outbox item {item_id} is not claimed by worker '{worker}' "
                               f"(state {row[0]}, lease owner {row[1]}); its lease was lost")


def requeue_failed(store: Store, now: dt.datetime, *, dossier: str | None = None, logger: Any = None) -> list[int]:
    """Put the outbox items given up (state ``failed``) back in the queue, due at ``now``, with their attempts
    counted afresh (their last error is kept until they succeed): of every dossier, or of ``dossier`` (a code).
    One transaction; what it did is one Vietnamese log line. Returns the ids put back.

    Raises
    ------
    engine.errors.NotFound
        When ``dossier`` names no dossier (nothing is changed).
    """
    import sqlalchemy as sa

    from engine.errors import NotFound
    from engine.store import OUTBOX_FAILED, OUTBOX_PENDING, Dossier, OutboxItem

    with store.write() as s:
        query = sa.select(OutboxItem.id).where(OutboxItem.state == OUTBOX_FAILED)
        if dossier:
            found = s.execute(sa.select(Dossier.id).where(Dossier.code == dossier.strip())).scalar_one_or_none()
            if found is None:
                if logger is not None:
                    logger.error("Không có hồ sơ %s; hãy ghi đúng mã hồ sơ, hoặc để trống để đưa lại việc máy thất "
                                 "bại của mọi hồ sơ. Chưa đưa lại việc nào.", dossier)
                raise NotFound(f"dossier '{dossier}' does not exist; give a dossier code, or leave dossier out "
                               f"to put back the failed items of every dossier")
            query = query.where(OutboxItem.dossier_id == found)
        ids = [row[0] for row in s.execute(query.order_by(OutboxItem.id)).all()]
        if ids:
            s.execute(sa.update(OutboxItem).where(OutboxItem.id.in_(ids), OutboxItem.state == OUTBOX_FAILED)
                      .values(state=OUTBOX_PENDING, available_at=now, attempts=0, completed_at=None,
                              lease_owner=None, lease_until=None))
    if logger is not None:
        whose = f" của hồ sơ {dossier.strip()}" if dossier else ""
        if ids:
            logger.warning("Đã đưa lại %d việc máy thất bại%s vào hàng đợi (%s); lượt này chạy lại chúng.",
                           len(ids), whose, ", ".join(map(str, ids[:20])) + (" …" if len(ids) > 20 else ""))
        else:
            logger.warning("Không có việc máy thất bại nào%s để đưa lại vào hàng đợi.", whose)
    return ids


def hanoi_time(t: dt.datetime) -> str:
    """An instant as the worker's log lines say it: ``15:52:01 ngày 28/11/2026 (+07)``."""
    local = t.astimezone(dt.timezone(dt.timedelta(hours=7)))
    return f"{local:%H:%M:%S} ngày {local:%d/%m/%Y} (+07)"


#: At most this many ``dossier:`` tags are added to a drain's flow run (a catch-up drains hundreds).
FLOW_RUN_DOSSIER_TAGS = 50


class RunTagger:
    """Adds ``dossier:<code>`` of the dossiers a drain claims to its own flow run's tags (at most
    :data:`FLOW_RUN_DOSSIER_TAGS`), so that the Prefect UI's *Runs* page, filtered by the tag, lists the flow run
    too, and not only its task runs (on the *Task runs* tab). One update of the flow run per batch that brings
    new dossiers, before the batch runs; a failure is logged once and changes nothing else (the items are done
    either way)."""

    def __init__(self, flow_run_id: Any, tags: list[str], logger: Any):
        self.flow_run_id, self.tags, self.logger = flow_run_id, list(tags), logger
        self.failed = False

    def add(self, dossiers: list[str]) -> list[str]:
        """Tag the run with these dossiers (those it does not carry yet); returns the tags added."""
        have = sum(1 for t in self.tags if t.startswith("dossier:"))
        new: list[str] = []
        for code in dossiers:
            tag = f"dossier:{code}"
            if code != "-" and tag not in self.tags and tag not in new and have + len(new) < FLOW_RUN_DOSSIER_TAGS:
                new.append(tag)
        if not new or self.failed:
            return []
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                client.update_flow_run(self.flow_run_id, tags=self.tags + new)
        except Exception as exc:  # noqa: BLE001 - the tags help operators; the work goes on
            self.failed = True
            self.logger.warning("Không gắn được nhãn hồ sơ cho lượt chạy này (%s); các task run vẫn mang nhãn.",
                                f"{type(exc).__name__}: {exc}")
            return []
        self.tags += new
        return new


class TagLimits:
    """The tag concurrency limits of the Prefect server, read once per batch, so that a task run whose tags
    have none does not ask the server for a slot.

    Prefect 3.9 acquires a concurrency slot for every task run with tags (``tag:<tag>`` limits), one API
    call per tag set, through a client-side service per set; it caches a set that has no limit for 5 s
    (``prefect.concurrency.services._no_limits_cache``), which helps bounded sets only: with the dossier tag
    every (dossier, unit) is a new set, and its call waits on a server busy recording the task runs (measured:
    ~0.33 of the ~0.38 s a tagged item cost, docs/prefect.md). :meth:`refresh` reads the limits (one call per
    batch); :meth:`seed`, just before an item's task run, enters its tag set in that cache when none of its
    tags has a limit, as Prefect itself would after its call. A set with a limited tag is left to Prefect
    (the slot is acquired as before). When the limits cannot be read, or this Prefect has no such cache,
    nothing is seeded and Prefect asks the server as it always did. A limit created after the read applies
    from the next batch (Prefect's own cache has the same 5 s window).
    """

    PAGE = 200

    def __init__(self, logger: Any = None):
        self.names: set[str] | None = None
        self.logger = logger
        self.failed = False

    def refresh(self) -> set[str] | None:
        """Read the names of the server's concurrency limits (None when they cannot be read)."""
        from prefect.client.orchestration import get_client

        names: set[str] = set()
        try:
            with get_client(sync_client=True) as client:
                offset = 0
                while True:
                    page = client.read_global_concurrency_limits(limit=self.PAGE, offset=offset)
                    names.update(limit.name for limit in page)
                    if len(page) < self.PAGE:
                        break
                    offset += self.PAGE
        except Exception as exc:  # noqa: BLE001 - an optimisation: Prefect asks per tag set as before
            self.names = None
            if not self.failed and self.logger is not None:
                self.logger.warning("Không đọc được giới hạn đồng thời theo nhãn của máy chủ Prefect (%s); "
                                    "mỗi task vẫn hỏi máy chủ như mặc định của Prefect (chậm hơn).",
                                    f"{type(exc).__name__}: {exc}")
            self.failed = True
            return None
        self.names = names
        return names

    def seed(self, tags: list[str]) -> bool:
        """Tell Prefect's cache that this tag set has no limit, when the last :meth:`refresh` found none of its
        tags limited. Returns whether it did."""
        if self.names is None or not tags:
            return False
        key = frozenset(f"tag:{tag}" for tag in tags)
        if key & self.names:
            return False
        try:
            from prefect.concurrency.services import _cache_lock, _no_limits_cache
        except ImportError:  # another Prefect: no such cache; it asks the server
            return False
        with _cache_lock:
            _no_limits_cache[key] = True
        return True


def release_tag_services() -> int:
    """Stop the client-side services Prefect started for the per-dossier tag sets of our task runs.

    Prefect 3.9 acquires tag concurrency slots for every task run with tags,
    through one service (a thread and an API client) per distinct tag set,
    kept until the process exits. Per-dossier tags make those sets unbounded;
    the drain flow releases the ones naming a dossier when it ends, so a
    long-running worker does not accumulate threads (measured: ~1 thread and
    ~1 MB per set). Bounded sets (procedure, unit) are kept for reuse.

    Returns
    -------
    int
        How many services were stopped.
    """
    from prefect.concurrency.services import ConcurrencySlotAcquisitionWithLeaseService as Service

    with Service._instance_cache_lock:
        mine = [s for s in Service._instances.values() if isinstance(s, Service)
                and any(name.startswith("tag:dossier:") for name in getattr(s, "concurrency_limit_names", ()))]
    for service in mine:
        try:
            service.drain()
        except Exception:  # noqa: BLE001 - best effort; the next run tries again
            pass
    return len(mine)


def _error_text(state: Any) -> str:
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - we record whatever it was
        return f"{type(exc).__name__}: {exc}"
    return state.message or str(state.type)


def _exception(state: Any) -> BaseException | None:
    """The exception a failed task run's state holds (with its traceback), or None."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - whatever it was
        return exc
    return None


@dataclass(frozen=True)
class SweepRun:
    """The sweep whose task run is running (:data:`_RUNNING`): the instant it fires the timers at."""

    now: dt.datetime


#: The outbox item (or the sweep) whose task run is running in this context (set by the drain around each
#: task call, by the sweep flow around its task): :class:`RetryLines` rewrites Prefect's lines about that task
#: run only.
_RUNNING: contextvars.ContextVar[OutboxWork | SweepRun | None] = contextvars.ContextVar("quytrinh_outbox_item",
                                                                                       default=None)

#: Prefect 3.9's line when a task run will be retried (``SyncTaskRunEngine.handle_retry``), and its last argument.
_PREFECT_RETRY = "Task run failed with %s: %r - Retry %s/%s will start %s"
_PREFECT_DELAY = re.compile(r"([0-9.]+) second\(s\) from now")


class RetryLines(logging.Filter):
    """Prefect's lines about an outbox item's task run failing, as the operator should read them.

    Installed on Prefect's task-run logger (``prefect.task_runs``) by the drain and the sweep; it touches only
    the records logged while an outbox item's task, or the sweep's, runs (:data:`_RUNNING`):

    - "Task run failed with exception: … - Retry 1/2 will start 2 second(s) from now" (INFO, no traceback)
      becomes one Vietnamese line: the item, its kind and dossier, the error, that it is tried again and when,
      in Hanoi time;
    - "Task run failed with exception: … - Retries are exhausted" (ERROR, with the full traceback) and
      "Finished in state Failed(…)" (ERROR) are dropped: the drain says what happens next in one line, a
      warning when the item is tried again later (no traceback: the error is transient), an error with the
      traceback when it is given up (``failed``). For the sweep: a warning without traceback when the
      error is a transient database error (:func:`transient_database_error`), the next sweep doing the
      work; otherwise Prefect's flow-run line with the traceback, once.

    Any other record (and any record of another task) goes through unchanged; so does a line whose form a
    later Prefect changed (then Prefect's English line shows, as before).
    """

    @classmethod
    def install(cls) -> None:
        """Add the filter to ``prefect.task_runs`` once per process."""
        logger = logging.getLogger("prefect.task_runs")
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())

    def filter(self, record: logging.LogRecord) -> bool:
        work = _RUNNING.get()
        if work is None:
            return True
        if record.msg == _PREFECT_RETRY and isinstance(record.args, tuple) and len(record.args) == 5:
            _, error, number, retries, when = record.args
            say = sweep_retry_text if isinstance(work, SweepRun) else retry_text
            record.msg, record.args = say(work, error, int(number), int(retries), str(when),
                                          dt.datetime.fromtimestamp(record.created, UTC)), ()
            return True
        text = str(record.msg)
        if record.levelno >= logging.ERROR and (text.startswith("Task run failed with ")
                                               or text.startswith("Finished in state Failed(")):
            return False
        return True


def retry_text(work: OutboxWork, error: Any, number: int, retries: int, when: str, at: dt.datetime) -> str:
    """The Vietnamese line of an outbox item's task run that failed and that Prefect runs again (``when``:
    Prefect's "2 second(s) from now" or "immediately", from ``at``)."""
    what = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return (f"Việc máy {work.id} ({work.kind}, hồ sơ {work.dossier_code}) gặp lỗi tạm thời: {what}; sẽ thử lại "
            f"(lần thử lại {number}/{retries}) {_retry_after(when, at)}.")


def sweep_retry_text(run: SweepRun, error: Any, number: int, retries: int, when: str, at: dt.datetime) -> str:
    """The Vietnamese line of the sweep's task run that failed and that Prefect runs again (as :func:`retry_text`)."""
    what = _first_line(error) if isinstance(error, BaseException) else str(error)
    return (f"Quét thời hạn lúc {hanoi_time(run.now)} gặp lỗi: {what}; sẽ thử lại (lần thử lại {number}/{retries}) "
            f"{_retry_after(when, at)}.")


def _retry_after(when: str, at: dt.datetime) -> str:
    """Prefect's "2 second(s) from now" (or "immediately"), from ``at``, as the retry lines say it."""
    m = _PREFECT_DELAY.fullmatch(when.strip())
    if m and float(m[1]):
        seconds = float(m[1])
        return f"sau {seconds:g} giây, lúc {hanoi_time(at + dt.timedelta(seconds=seconds))}"
    return "ngay"


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (SQLAlchemy's messages go on with the SQL and a link)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


#: SQLite's primary result codes of a database busy or locked by another connection.
_SQLITE_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
#: PostgreSQL's SQLSTATE classes of errors the same statement may not meet a moment later: connection exceptions,
#: serialization failures and deadlocks, insufficient resources, operator intervention (a terminated backend,
#: a server shutting down, a cancelled statement); and "lock not available", "object in use".
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_PG_TRANSIENT_STATES = ("55P03", "55006")


def transient_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error that retrying later may not meet: the database busy or locked
    (SQLite), a lock timeout, serialization failure or deadlock, a lost or refused connection (PostgreSQL),
    the connection pool exhausted. A missing table, a constraint violated, a bad statement are not.

    >>> import sqlite3, sqlalchemy.exc
    >>> transient_database_error(sqlalchemy.exc.OperationalError("BEGIN", (), sqlite3.OperationalError(
    ...     "database is locked")))
    True
    >>> transient_database_error(sqlalchemy.exc.OperationalError("SELECT", (), sqlite3.OperationalError(
    ...     "no such table: apologies")))
    False
    """
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    orig = exc.orig
    if type(orig).__module__.startswith("sqlite3"):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_BUSY_CODES
        return "locked" in str(orig)  # an error built without a code (by hand)
    state = getattr(orig, "sqlstate", None)
    if state is None:  # psycopg: no answer from the server (connection refused, closed, lost)
        return True
    return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_STATES


def _is_permanent(state: Any) -> bool:
    try:
        state.result()
    except PermanentEffectError:
        return True
    except BaseException:  # noqa: BLE001
        return False
    return False


@task(name="sweep-timers", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE, persist_result=False)
def sweep_task(now: dt.datetime) -> dict[str, Any]:
    """Fire the timers due at ``now`` (:func:`engine.services.sweep_timers`); a Prefect task run."""
    started = time.perf_counter()
    result = services.sweep_timers(get_store(), now=now)
    out = {**asdict(result), "changed": result.changed, "now": now.isoformat(),
           "seconds": round(time.perf_counter() - started, 3)}
    if result.changed:
        get_run_logger().info("Quét thời hạn lúc %s: %s sắp đến hạn, %s quá hạn, %s hồ sơ quá hạn, %s phiếu xin lỗi "
                              "(Mẫu 04), %s thông báo cho lãnh đạo đơn vị (%s việc đang mở) — %.2f s",
                              hanoi_time(now), result.nearly_due, result.overdue, result.dossiers_overdue,
                              result.apologies, result.notifications, result.checked, out["seconds"])
    return out


@flow(name=SWEEP_FLOW, flow_run_name=_sweep_run_name, log_prints=False, persist_result=False,
      validate_parameters=True)
def sweep_timers_flow(now: dt.datetime | None = None) -> Any:
    """Fire every SLA timer due at ``now`` (the wall clock when None).

    Idempotent: a second run at the same instant changes nothing. A run after
    a downtime changes, in one pass, everything whose instant passed.

    A transient database error (:func:`transient_database_error`: the
    database locked, a connection dropped) that outlasts the task's retry is
    one Vietnamese warning, without a traceback, and the run ends ``Failed``
    with that line as its message: the next scheduled sweep does the work
    (it computes from stored instants; a sweep stopped part-way has committed
    whole chunks). Any other error fails the run with its traceback, once
    (Prefect's own lines about the task run are dropped: :class:`RetryLines`).

    Returns
    -------
    dict
        The :class:`engine.services.SweepResult` fields, ``changed``, ``now`` and ``seconds`` (a ``Failed``
        state after a transient database error).
    """
    from prefect.states import Failed

    at = _aware(now) or utcnow()
    RetryLines.install()
    token = _RUNNING.set(SweepRun(at))
    try:
        state = sweep_task(at, return_state=True)
    finally:
        _RUNNING.reset(token)
    exc = None if state.is_completed() else _exception(state)
    if exc is not None and transient_database_error(exc):
        text = (f"Quét thời hạn lúc {hanoi_time(at)} không thực hiện được vì lỗi tạm thời của cơ sở dữ liệu "
                f"({_first_line(exc)}); lượt quét sau sẽ làm lại, không mốc thời hạn nào bị bỏ sót.")
        get_run_logger().warning("%s", text)
        return Failed(message=text)
    return state.result()  # a failure raises here: the flow run fails with the traceback
