"""Benchmark: the dossier engine against SpiffWorkflow and the bare database floor.

The reference procedure (bench/reference-procedure.yaml, the same process as
bench/reference.bpmn): receive -> review -> (every 10th dossier: supplement ->
review) -> head check -> sign -> return. 2,000 dossiers, so 10,400
transitions; every transition is one transaction, persisted with its events,
and stateless: each action loads what it needs from the database, as a server
does (the driver only keeps the work-item id a user would click).

Peers, each in its own child process (peak memory = the child's ru_maxrss):

* ``engine``  quytrinh's services (engine.services: receive, complete,
  request_supplement, supplement_received, sign, return_result), no Prefect;
* ``spiff``   SpiffWorkflow 3.x running bench/reference.bpmn: the workflow's
  serializer JSON in one row per dossier, read and deserialized before every
  step and written back after it (SQLite: WAL, synchronous=NORMAL);
* ``floor``   the bare database floor: one UPDATE and one INSERT per
  transaction (SQLite: WAL, synchronous=NORMAL);
* ``sql``     (SQLite) the engine's own statements, recorded during an untimed
  run and replayed with their parameters on bare sqlite3: what the engine's
  database work alone costs, the ceiling of its rate with this schema.

Then the same on PostgreSQL (each peer in its own schema, dropped after),
the inbox query (engine.services.list_tasks) p95 over 1,000,000 work items
bulk-loaded with COPY on PostgreSQL, the timer sweep's catch-up after an outage
(N open work items whose instants passed, on SQLite and PostgreSQL: wall, CPU,
statements and write transactions), and the cost the Prefect layer adds to
machine work (the drain flow against a local Prefect server, per outbox item)
with the cost of a timer sweep over N open dossiers.

Last line: ``engine: <t>/s, <ratio>x spiffworkflow, <pct>% of sqlite floor``.
Exit status 1 when a peer's end state is wrong (not every dossier returned).

Sizes (environment): BENCH_DOSSIERS (2000), BENCH_PG_URL
(postgresql://postgres@127.0.0.1:5432/test; "" skips PostgreSQL),
BENCH_PG_DOSSIERS (500: the engine's PostgreSQL round trips
make 2,000 too long for the 5-minute budget; the rate is per transition), BENCH_INBOX_ITEMS (1000000; 0 skips),
BENCH_INBOX_OPEN (open dossiers among them, 1000), BENCH_PREFECT_ITEMS
(outbox items drained through Prefect, 60; 0 skips), BENCH_SWEEP_DOSSIERS
(open dossiers for the sweep figure, 500), BENCH_SERVE_RUNS (runs of the sweep
flow served by prefect.serve(), to measure what a subprocess per run costs; 3,
0 skips), BENCH_CATCHUP_ITEMS (open work items for the catch-up figure, 10000;
0 skips).
Quick run: ``BENCH_DOSSIERS=200 BENCH_INBOX_ITEMS=50000 BENCH_PREFECT_ITEMS=30
BENCH_SWEEP_DOSSIERS=200 BENCH_CATCHUP_ITEMS=2000 .venv/bin/python bench/engine.py``.
"""

from __future__ import annotations

import os
import sys

# This file is named engine.py: drop its folder from sys.path first, or it would
# shadow the ``engine`` package for everything imported below.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
ROOT = os.path.dirname(_HERE)
sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

BPMN = Path(ROOT) / "bench" / "reference.bpmn"
YAML = Path(ROOT) / "bench" / "reference-procedure.yaml"
UNITS = Path(ROOT) / "procedures_yaml" / "units.yaml"
PROCEDURE = "BENCH-REF"
#: A Tuesday 08:00 in Hanoi, as UTC: the virtual clock of the run starts here.
T0 = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.timezone.utc)
SUPPLEMENT_EVERY = 10  # every 10th dossier goes through the supplementation loop

STAFF = {  # username -> (unit, role): the shipped units
    "motcua": ("bp_mot_cua", "staff"),
    "chuyenvien": ("phong_tu_phap", "staff"),
    "truongphong": ("phong_tu_phap", "head"),
    "lanhdao": ("lanh_dao_ubnd", "vice_chairman"),
}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def transitions_for(n: int) -> int:
    """Transactions of the workload: 5 per dossier, 2 more for each supplemented one."""
    return 5 * n + 2 * len(range(0, n, SUPPLEMENT_EVERY))


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- the workload
#
# Stages over all dossiers, in order (each stage touches every dossier it
# concerns once, so consecutive actions hit different dossiers, as on a server):
#   0 receive (accept: receipt, appointment)      all
#   1 review -> supplement (form 02, clock pause)  supplemented ones
#   1 review -> ok                                 the others
#   2 supplement received (clock resumes)          supplemented ones
#   3 review -> ok                                 supplemented ones
#   4 check -> ok, 5 sign -> approve, 6 return     all


def supplemented(i: int) -> bool:
    return i % SUPPLEMENT_EVERY == 0


class Clock:
    """Virtual time: one second per action."""

    def __init__(self) -> None:
        self.t = T0

    def tick(self) -> dt.datetime:
        self.t += dt.timedelta(seconds=1)
        return self.t


def run_engine_workload(store: Any, n: int, actors: dict, cal: Any) -> dict[str, Any]:
    """Drive ``n`` dossiers through the reference procedure with engine.services."""
    from engine import services as sv

    clock = Clock()
    item: dict[int, int] = {}  # dossier index -> the open work item (what the user clicks)
    code: dict[int, str] = {}
    count = 0
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        r = sv.receive(store, actors["motcua"], PROCEDURE, applicant=f"Công dân {i}", now=clock.tick(),
                       calendar=cal)
        item[i], code[i] = r.opened[-1], r.dossier_code
        count += 1
    for i in range(n):
        if supplemented(i):
            sv.request_supplement(store, actors["chuyenvien"], item[i], now=clock.tick(), calendar=cal,
                                  comment="Thiếu giấy tờ")
        else:
            item[i] = sv.complete(store, actors["chuyenvien"], item[i], outcome="ok", now=clock.tick(),
                                  calendar=cal).opened[-1]
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        item[i] = sv.supplement_received(store, actors["motcua"], code[i], now=clock.tick(), calendar=cal).opened[-1]
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        item[i] = sv.complete(store, actors["chuyenvien"], item[i], outcome="ok", now=clock.tick(),
                              calendar=cal).opened[-1]
        count += 1
    for i in range(n):
        item[i] = sv.complete(store, actors["truongphong"], item[i], outcome="ok", now=clock.tick(),
                              calendar=cal).opened[-1]
        count += 1
    for i in range(n):
        item[i] = sv.sign(store, actors["lanhdao"], item[i], now=clock.tick(), calendar=cal).opened[-1]
        count += 1
    for i in range(n):
        sv.return_result(store, actors["motcua"], item[i], now=clock.tick(), calendar=cal)
        count += 1
    return {"transitions": count, "seconds": time.perf_counter() - t, "work_cpu": time.process_time() - c}


def setup_engine(url: str) -> tuple[Any, dict, Any]:
    """A migrated database with the units, the reference procedure and the staff."""
    from engine import services as sv
    from engine.calendar import WorkCalendar
    from engine.definition import load_definition, load_units
    from engine.store import init_db

    store = init_db(url)
    sv.seed_organisation(store, load_units(UNITS))
    sv.publish_definition(store, load_definition(YAML), now=T0, by="bench")
    actors = {name: sv.add_user(store, name, unit=u, role=r, now=T0) for name, (u, r) in STAFF.items()}
    cal = WorkCalendar.default()
    cal.add(T0, 1)  # builds the calendar's tables once, as a server does at start-up (not per transition)
    return store, actors, cal


def peer_engine(url: str, n: int) -> dict[str, Any]:
    import sqlalchemy as sa

    store, actors, cal = setup_engine(url)
    out = run_engine_workload(store, n, actors, cal)
    with store.engine.connect() as conn:
        returned = conn.execute(sa.text("select count(*) from dossiers where status = 10")).scalar_one()
        events = conn.execute(sa.text("select count(*) from events")).scalar_one()
        outbox = conn.execute(sa.text("select count(*) from outbox")).scalar_one()
    store.dispose()
    return {**out, "ok": returned == n, "check": f"{returned}/{n} returned, {events} events, {outbox} outbox items"}


# --------------------------------------------------------------------------- SpiffWorkflow


class _Rows:
    """One row per dossier (id, state) on SQLite or PostgreSQL, a transaction per call."""

    def __init__(self, url: str, table: str, columns: str):
        self.url = url
        if url.startswith("sqlite:///"):
            import sqlite3

            self.pg = False
            self.conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            self.conn.execute("pragma journal_mode=WAL")
            self.conn.execute("pragma synchronous=NORMAL")
            self.ph = "?"
        else:
            import psycopg

            self.pg = True
            base, _, schema = url.partition("#schema=")
            self.conn = psycopg.connect(base, autocommit=True)
            self.conn.execute(f'set search_path to "{schema}"')
            self.ph = "%s"
        self.table = table
        self.execute(f"create table {table} ({columns})")

    def execute(self, sql: str, params: tuple = ()) -> Any:
        return self.conn.execute(sql.replace("?", self.ph), params)

    def transaction(self, fn: Callable[[], Any]) -> Any:
        if self.pg:
            with self.conn.transaction():
                return fn()
        self.conn.execute("begin immediate")
        try:
            result = fn()
        except BaseException:
            self.conn.execute("rollback")
            raise
        self.conn.execute("commit")
        return result


def peer_spiff(url: str, n: int) -> dict[str, Any]:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("reference")
    serializer = BpmnWorkflowSerializer()
    db = _Rows(url, "spiff_workflows", "id bigint primary key, state text not null")
    count = 0

    def step(i: int, name: str, data: dict | None = None) -> None:
        def body() -> None:
            row = db.execute("select state from spiff_workflows where id = ?", (i,)).fetchone()
            wf = serializer.deserialize_json(row[0])
            ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == name]
            if len(ready) != 1:
                raise RuntimeError(f"dossier {i}: no ready task '{name}'")
            if data:
                ready[0].data.update(data)
            ready[0].run()
            wf.do_engine_steps()
            db.execute("update spiff_workflows set state = ? where id = ?", (serializer.serialize_json(wf), i))
        db.transaction(body)

    def start(i: int) -> None:
        def body() -> None:
            wf = BpmnWorkflow(spec)
            wf.do_engine_steps()
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data.update({"applicant": f"Công dân {i}"})
            task.run()
            wf.do_engine_steps()
            db.execute("insert into spiff_workflows (id, state) values (?, ?)", (i, serializer.serialize_json(wf)))
        db.transaction(body)

    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        start(i)
        count += 1
    for i in range(n):
        step(i, "review", {"outcome": "supplement" if supplemented(i) else "ok"})
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        step(i, "supplement")
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        step(i, "review", {"outcome": "ok"})
        count += 1
    for name in ("check", "sign", "deliver"):
        for i in range(n):
            step(i, name)
            count += 1
    seconds, work_cpu = time.perf_counter() - t, time.process_time() - c
    completed = 0
    for (state,) in db.execute("select state from spiff_workflows").fetchall():
        completed += serializer.deserialize_json(state).is_completed()
    return {"transitions": count, "seconds": seconds, "work_cpu": work_cpu, "ok": completed == n,
            "check": f"{completed}/{n} workflows completed"}


# --------------------------------------------------------------------------- the floor


def peer_floor(url: str, n: int) -> dict[str, Any]:
    db = _Rows(url, "floor_dossiers", "id bigint primary key, status integer not null, version integer not null")
    db.execute("create table floor_events (id bigint primary key, dossier_id bigint not null, at text not null, "
               "action text not null, data text not null)")
    clock = Clock()
    ids = iter(range(1, 10**9))
    count = 0

    def transition(i: int, status: int, action: str, first: bool = False) -> None:
        at = clock.tick().isoformat()
        data = json.dumps({"step": action, "by": "bench"})

        def body() -> None:
            if first:
                db.execute("insert into floor_dossiers (id, status, version) values (?, ?, 1)", (i, status))
            else:
                db.execute("update floor_dossiers set status = ?, version = version + 1 where id = ?", (status, i))
            db.execute("insert into floor_events (id, dossier_id, at, action, data) values (?, ?, ?, ?, ?)",
                       (next(ids), i, at, action, data))
        db.transaction(body)

    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        transition(i, 2, "receive", first=True)
        count += 1
    for i in range(n):
        transition(i, 5 if supplemented(i) else 4, "review")
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        transition(i, 4, "supplemented")
        count += 1
    for i in range(0, n, SUPPLEMENT_EVERY):
        transition(i, 4, "review")
        count += 1
    for name, status in (("check", 4), ("sign", 9), ("return", 10)):
        for i in range(n):
            transition(i, status, name)
            count += 1
    seconds, work_cpu = time.perf_counter() - t, time.process_time() - c
    returned = db.execute("select count(*) from floor_dossiers where status = 10").fetchone()[0]
    return {"transitions": count, "seconds": seconds, "work_cpu": work_cpu, "ok": returned == n,
            "check": f"{returned}/{n} at status 10"}


# --------------------------------------------------------------------------- the engine's SQL alone


def peer_sql(url: str, n: int) -> dict[str, Any]:
    """The engine's own statements with their parameters, replayed on bare sqlite3: no Python logic.

    The engine runs the workload once (untimed) on one copy of the set-up
    database while every statement it sends is recorded; the recording is then
    replayed, timed, on a second copy, with the engine's settings (WAL,
    synchronous=NORMAL, foreign keys, its page size and checkpoint interval).
    What that takes is the ceiling of the engine's rate with this schema: what
    its database work alone costs.
    """
    import sqlite3
    from contextlib import contextmanager

    from engine import rawdb

    path = Path(url[len("sqlite:///"):])
    store, actors, cal = setup_engine(url)
    store.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    replica = path.with_name(path.stem + "-replay.db")
    shutil.copy(path, replica)
    recorded: list[tuple[str, list[Any]]] = []
    execute, write = rawdb.Tx.execute, rawdb.write

    def recording_execute(self: Any, sql: str, params: Any = ()) -> Any:
        recorded.append((sql, list(params)))
        return execute(self, sql, params)

    @contextmanager
    def recording_write(db: Any) -> Any:
        with write(db) as tx:
            yield tx
        recorded.append(("COMMIT", []))

    rawdb.Tx.execute, rawdb.write = recording_execute, recording_write  # type: ignore[method-assign]
    try:
        count = run_engine_workload(store, n, actors, cal)["transitions"]
    finally:
        rawdb.Tx.execute, rawdb.write = execute, write  # type: ignore[method-assign]
    from engine.store import SQLITE_WAL_AUTOCHECKPOINT

    conn = sqlite3.connect(replica, isolation_level=None)  # the replica keeps the engine's page size
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   f"wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}"):
        conn.execute(f"pragma {pragma}")
    cur = conn.cursor()
    t, c = time.perf_counter(), time.process_time()
    for sql, params in recorded:
        cur.execute(sql, params)
    seconds, work_cpu = time.perf_counter() - t, time.process_time() - c
    returned = conn.execute("select count(*) from dossiers where status = 10").fetchone()[0]
    return {"transitions": count, "seconds": seconds, "work_cpu": work_cpu, "ok": returned == n,
            "check": f"{len(recorded) / count:.1f} statements per transition, BEGIN and COMMIT included; "
                     f"{returned}/{n} returned"}


PEERS = {"engine": peer_engine, "spiff": peer_spiff, "floor": peer_floor, "sql": peer_sql}


# --------------------------------------------------------------------------- PostgreSQL schemas


def pg_schema_url(base: str, schema: str, *, sqlalchemy: bool) -> str:
    """A URL whose connections live in ``schema`` (created by the caller)."""
    if sqlalchemy:
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}"
    return f"{base}#schema={schema}"


def pg_admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql)


def pg_reachable(base: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(base, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False


# --------------------------------------------------------------------------- children


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> dict[str, Any]:
    """Run this file as a child with ``args``; its last stdout line is a JSON result."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench child {' '.join(args)} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--url", default="")
    ap.add_argument("--n", type=int, default=0)
    a = ap.parse_args(argv)
    if a.peer == "inbox":
        out = inbox_child(a.url, a.n)
    elif a.peer == "prefect":
        out = prefect_child(a.n)
    elif a.peer == "serve":
        out = serve_child(a.n)
    elif a.peer == "catchup":
        out = catchup_child(a.url, a.n)
    else:
        out = PEERS[a.peer](a.url, a.n)
    out["maxrss_mb"] = round(maxrss_mb(), 1)
    out["cpu"] = round(cpu_seconds(), 2)
    print(json.dumps(out, default=str))


def run_peers(label: str, urls: dict[str, str], n: int) -> dict[str, dict[str, Any]]:
    results = {}
    for peer in ("engine", "spiff", "floor", "sql"):
        if peer not in urls:
            continue
        r = run_child(["--peer", peer, "--url", urls[peer], "--n", str(n)])
        r["tps"] = r["transitions"] / r["seconds"]
        r["tps_cpu"] = r["transitions"] / max(r["work_cpu"], 1e-9)
        results[peer] = r
        print(f"  {label:<10} {peer:<7} {r['transitions']:>6} transitions in {r['seconds']:6.1f} s = "
              f"{r['tps']:6.0f}/s ({r['seconds'] / r['transitions'] * 1000:5.2f} ms each; "
              f"{r['work_cpu'] / r['transitions'] * 1000:5.2f} ms of its own CPU)   "
              f"peak RSS {r['maxrss_mb']:5.1f} MB   [{r['check']}]", flush=True)
    return results


def summary(results: dict[str, dict[str, Any]], floor_name: str, key: str = "tps") -> str:
    e, s, f = results["engine"], results["spiff"], results["floor"]
    return (f"engine: {e[key]:.0f}/s, {e[key] / s[key]:.1f}x spiffworkflow, "
            f"{e[key] / f[key] * 100:.0f}% of {floor_name} floor")


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


# --------------------------------------------------------------------------- inbox on 1M items


def inbox_child(url: str, n_items: int) -> dict[str, Any]:
    """Bulk-load ``n_items`` work items with COPY, then time list_tasks (the real inbox query)."""
    import statistics

    import psycopg
    import sqlalchemy as sa

    from engine import services as sv
    from engine.sla import Clock as SlaClock

    base, _, schema = url.partition("#schema=")
    store, actors, cal = setup_engine(pg_schema_url(base, schema, sqlalchemy=True))
    with store.engine.connect() as conn:
        def_id = conn.execute(sa.text("select id from definition_versions")).scalar_one()
    from engine.definition import load_definition

    defn = load_definition(YAML)
    steps = [s for s in defn.steps if s.id != "supplement"]  # receive, review, check, sign, deliver
    per_dossier = len(steps)
    n_dossiers = max(1, n_items // per_dossier)
    # The dossiers being handled now (a district has a few hundred open); the rest is history.
    open_share = min(1.0, env_int("BENCH_INBOX_OPEN", 1000) / n_dossiers)
    rng = random.Random(7)
    now = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.timezone.utc)  # a Thursday 10:00 in Hanoi
    registered = [now - dt.timedelta(days=rng.uniform(0, 3 * 365)) for _ in range(n_dossiers)]
    is_open = [rng.random() < open_share for _ in range(n_dossiers)]
    # Who handles each (unit, role): a closed item names its handler, a claimed one its holder.
    handler = {(u, r): actors[name].user_id for name, (u, r) in STAFF.items()}
    claim_rng = random.Random(11)  # its own stream: the items and instants stay those of rng
    t_load = time.perf_counter()
    n_open = n_claimed = 0
    def ts(t: dt.datetime | None) -> str:
        return "\\N" if t is None else t.isoformat()

    chunk = 20_000
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=False) as conn:
        conn.execute(f'set search_path to "{schema}"')
        # Bulk load as one would: foreign keys not re-checked row by row (the
        # generator is consistent), secondary indexes rebuilt once afterwards.
        conn.execute("set local session_replication_role = replica")
        # Every index but those behind a constraint (primary keys, unique constraints), whatever
        # its name (ix_* from index=True, or any index a model declares by name), recreated as it was.
        indexes = conn.execute(
            "select i.relname, pg_get_indexdef(x.indexrelid) from pg_index x "
            "join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid "
            "join pg_namespace n on n.oid = t.relnamespace "
            "where n.nspname = %s and t.relname in ('work_items', 'dossiers') "
            "and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)", (schema,)).fetchall()
        for name, _ in indexes:
            conn.execute(f'drop index "{name}"')
        with conn.cursor() as cur:
            with cur.copy("copy dossiers (id, code, procedure_code, definition_id, definition_version, channel, "
                          "applicant, applicant_contact, status, registered_at, received_at, due_at, paused_minutes, "
                          "clock_policy, clock_restarts, supplements, closed_at, route_counts, joins, version, "
                          "updated_at) from stdin") as cp:
                lines: list[str] = []
                for d in range(1, n_dossiers + 1):
                    reg, opened_now = registered[d - 1], is_open[d - 1]
                    closed = "\\N" if opened_now else ts(reg + dt.timedelta(days=5))
                    lines.append(f"{d}\tBENCH-REF-{d:08d}\t{PROCEDURE}\t{def_id}\t1\tcounter\tCông dân {d}\t\t"
                                 f"{4 if opened_now else 10}\t{ts(reg)}\t{ts(reg)}\t{ts(reg + dt.timedelta(days=7))}\t"
                                 f"0\tpause\t0\t0\t{closed}\t{{}}\t{{}}\t3\t{ts(reg)}\n")
                    if len(lines) >= chunk:
                        cp.write("".join(lines))
                        lines.clear()
                cp.write("".join(lines))
            item_id = 0
            with cur.copy("copy work_items (id, dossier_id, step_id, step_name, kind, unit_id, role, assignee_id, "
                          "state, outcome, opened_at, claimed_at, closed_at, due_at, allotted_minutes, "
                          "spent_minutes, paused_minutes, timeliness, branch, attempt, clock) from stdin") as cp:
                lines = []
                for d in range(1, n_dossiers + 1):
                    reg = registered[d - 1]
                    upto = rng.randrange(per_dossier) if is_open[d - 1] else per_dossier
                    for k, step in enumerate(steps[:upto + 1]):
                        item_id += 1
                        head = f"{item_id}\t{d}\t{step.id}\t{step.name}\t{step.kind}\t{step.unit}\t{step.role}\t"
                        who = handler[(step.unit, step.role)]
                        if k < upto:
                            opened = reg + dt.timedelta(hours=k)
                            claimed_at, closed_at = opened + dt.timedelta(minutes=5), opened + dt.timedelta(minutes=30)
                            lines.append(f"{head}{who}\tdone\tok\t{ts(opened)}\t{ts(claimed_at)}\t{ts(closed_at)}\t"
                                         f"\\N\t{step.duration}\t30\t0\tearly\t\t1\t\\N\n")
                        else:
                            opened = now - dt.timedelta(minutes=rng.randrange(1, 3 * 480))
                            clock = SlaClock.for_step(opened, step.duration)
                            claimed = claim_rng.random() < 0.25  # a quarter of the open work is already taken
                            state, holder, at = (("claimed", who, ts(opened + dt.timedelta(minutes=1))) if claimed
                                                 else ("open", "\\N", "\\N"))
                            lines.append(f"{head}{holder}\t{state}\t\\N\t{ts(opened)}\t{at}\t\\N\t"
                                         f"{ts(clock.due(cal))}\t{step.duration}\t\\N\t0\t\\N\t\t1\t"
                                         f"{json.dumps(clock.as_dict())}\n")
                            n_open += 1
                            n_claimed += claimed
                        if len(lines) >= chunk:
                            cp.write("".join(lines))
                            lines.clear()
                cp.write("".join(lines))
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.execute("select setval(pg_get_serial_sequence('work_items', 'id'), (select max(id) from work_items))")
        conn.execute("select setval(pg_get_serial_sequence('dossiers', 'id'), (select max(id) from dossiers))")
        conn.commit()
        conn.autocommit = True
        # What autovacuum does shortly after such a load: statistics, hint bits, visibility map
        # (without it the first queries set hint bits, and the planner knows nothing of the rows).
        conn.execute("vacuum (analyze) dossiers")
        conn.execute("vacuum (analyze) work_items")
        total = conn.execute("select count(*) from work_items").fetchone()[0]
    load_seconds = time.perf_counter() - t_load
    queries: list[tuple[str, dict[str, Any]]] = []
    for unit in sorted({s.unit for s in steps}):
        queries.append((f"unit {unit}", {"unit": unit}))
    for name in STAFF:
        queries.append((f"user {name}", {"user": name}))

    # The plan of each query shape (by unit, by user) as the server runs it: access paths and
    # execution time in the server (EXPLAIN ANALYZE of the very statement list_tasks sends).
    from engine import rawdb

    def paths(node: dict[str, Any]) -> list[str]:  # "index scan ix_work_items_state", ... in plan order
        what = node.get("Index Name") or node.get("Relation Name")
        own = [f"{node['Node Type'].lower()} {what}"] if what else []
        return own + [p for child in node.get("Plans", ()) for p in paths(child)]

    plans: dict[str, str] = {}
    for shape, kw in (("unit", {"unit": "phong_tu_phap"}), ("user", {"user": "chuyenvien"})):
        with rawdb.read(store) as tx:
            statement, parameters = sv.tasks_query(tx, **kw)
            plan = tx.execute("explain (analyze, timing off, format json) " + statement, parameters).fetchone()[0][0]
        plans[shape] = f"{' + '.join(paths(plan['Plan']))}: {plan['Execution Time']:.1f} ms in the server"

    # A running server has served every query before: statements compiled, plans cached.
    for _, kw in queries:
        sv.list_tasks(store, now=now, calendar=cal, **kw)
    # And, as `quytrinh serve` does (quytrinh.web.app.create_served_app), its start-up heap is out of
    # the garbage collector's reach: a full collection would otherwise walk it during a query.
    import gc

    gc.collect()
    gc.freeze()
    times: list[float] = []
    cpu: list[float] = []  # this process's CPU time per query: what other load on the machine cannot inflate
    rows_seen: dict[str, int] = {}
    for _ in range(20):  # 20 rounds of 7 queries: a p95 over 140 samples, not over a handful
        for label, kw in queries:
            t, c = time.perf_counter(), time.process_time()
            rows = sv.list_tasks(store, now=now, calendar=cal, **kw)
            cpu.append(time.process_time() - c)
            times.append(time.perf_counter() - t)
            rows_seen[label] = len(rows)
    times.sort()
    cpu.sort()

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]

    store.dispose()
    return {"items": total, "open": n_open, "claimed": n_claimed, "dossiers": n_dossiers,
            "load_seconds": load_seconds, "queries": len(times), "p50_ms": statistics.median(times) * 1000,
            "p95_ms": p95(times) * 1000, "max_ms": times[-1] * 1000, "cpu_p50_ms": statistics.median(cpu) * 1000,
            "cpu_p95_ms": p95(cpu) * 1000, "plans": plans, "rows": rows_seen}


# --------------------------------------------------------------------------- timer sweep catch-up


class StatementCounter:
    """Counts the statements a store's connections send (made after :meth:`install`) and its commits.

    SQLite: the connection's trace callback (every statement, BEGIN and COMMIT included; an
    executemany once per row). PostgreSQL: a cursor class that counts ``execute`` and each row of
    ``executemany`` (SQLAlchemy's and engine.rawdb's statements both go through cursors).
    Transactions: SQLAlchemy's commits plus engine.rawdb's write transactions.
    """

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0

    def install(self, store: Any) -> None:
        from sqlalchemy import event

        from engine import rawdb

        store.engine.dispose()  # the pooled connections were made before: new ones get the counter
        counter = self
        if store.dialect == "sqlite":
            def trace(_sql: str) -> None:
                counter.statements += 1

            @event.listens_for(store.engine, "connect")
            def _connect(dbapi_conn: Any, record: Any) -> None:
                dbapi_conn.set_trace_callback(trace)
        else:
            import psycopg

            class Counting(psycopg.Cursor):
                def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                    counter.statements += 1
                    return super().execute(query, params, **kw)

                def executemany(self, query: Any, params_seq: Any, **kw: Any) -> Any:
                    params_seq = list(params_seq)
                    counter.statements += len(params_seq)
                    return super().executemany(query, params_seq, **kw)

            @event.listens_for(store.engine, "connect")
            def _connect(dbapi_conn: Any, record: Any) -> None:
                dbapi_conn.cursor_factory = Counting

        @event.listens_for(store.engine, "commit")
        def _commit(conn: Any) -> None:
            counter.transactions += 1

        write = rawdb.write

        def counted_write(db: Any) -> Any:
            if not isinstance(db, rawdb.Session):
                counter.transactions += 1
            return write(db)

        rawdb.write = counted_write  # engine.services calls rawdb.write through the module

    def take(self) -> tuple[int, int]:
        out = (self.statements, self.transactions)
        self.statements = self.transactions = 0
        return out


def catchup_child(url: str, n_items: int) -> dict[str, Any]:
    """``n_items`` open work items whose instants passed during an outage; time the sweep that catches up.

    A few hundred template dossiers are received through the services at instants spread over three
    working days (so that, at the sweep, the earliest are past their appointment, later ones only in
    their apology window, the last ones' items nearly due), then cloned in bulk (dossier row and its
    open work item) up to ``n_items`` open items. The sweep runs once five and a half working days
    after the first reception (nothing was swept meanwhile: the worker was down), then again at the
    same instant (it must change nothing).
    """
    from engine import rawdb
    from engine import services as sv

    if "#schema=" in url:
        base, _, schema = url.partition("#schema=")
        url = pg_schema_url(base, schema, sqlalchemy=True)
    store, actors, cal = setup_engine(url)
    span = 3 * 480  # working minutes over which the templates are received
    n_templates = max(1, min(200, n_items))
    t_setup = time.perf_counter()
    for i in range(n_templates):
        sv.receive(store, actors["motcua"], PROCEDURE, applicant=f"Công dân {i}",
                   now=cal.add(T0, span * i // n_templates), calendar=cal)
    dossiers_t, items_t = rawdb.table("dossiers"), rawdb.table("work_items")
    with rawdb.read(store) as tx:
        templates = tx.fetch(dossiers_t, f"SELECT {dossiers_t.select_list} FROM dossiers ORDER BY id")
        open_items = tx.fetch(items_t, f"SELECT {items_t.select_list} FROM work_items "
                                       "WHERE state IN ('open', 'claimed') ORDER BY id")
    by_dossier: dict[int, list[Any]] = {}
    for w in open_items:
        by_dossier.setdefault(w["dossier_id"], []).append(w)
    copies = max(0, n_items - len(open_items)) // max(1, len(open_items))
    chunk = 400  # dossiers per INSERT (SQLite binds at most 32,766 parameters a statement)
    for copy in range(1, copies + 1):
        for part in range(0, len(templates), chunk):
            batch = templates[part:part + chunk]
            with rawdb.write(store) as tx:
                ids = tx.insert_rows(dossiers_t, [{k: v for k, v in d.items() if k != "id"}
                                                  | {"code": f"{d['code']}-{copy}"} for d in batch])
                tx.insert_rows(items_t, [{k: v for k, v in w.items() if k != "id"} | {"dossier_id": new_id}
                                         for new_id, d in zip(ids, batch) for w in by_dossier.get(d["id"], ())])
    setup_seconds = time.perf_counter() - t_setup
    with rawdb.read(store) as tx:
        n_open = tx.execute("SELECT count(*) FROM work_items WHERE state IN ('open', 'claimed')").fetchone()[0]
        n_dossiers = tx.execute("SELECT count(*) FROM dossiers WHERE closed_at IS NULL").fetchone()[0]
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    counter = StatementCounter()
    counter.install(store)
    sv.unit_successors(store)  # what a running worker has cached
    at = cal.add(T0, 5 * 480 + 240)
    runs: dict[str, Any] = {}
    for label in ("catch-up", "again at the same instant"):
        counter.take()
        t0, c0 = time.perf_counter(), cpu_seconds()
        res = sv.sweep_timers(store, now=at, calendar=cal)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        statements, transactions = counter.take()
        runs[label] = {"seconds": wall, "cpu": cpu, "statements": statements, "transactions": transactions,
                       "checked": res.checked, "nearly_due": res.nearly_due, "overdue": res.overdue,
                       "dossiers_overdue": res.dossiers_overdue, "apologies": res.apologies,
                       "notifications": res.notifications}
    with rawdb.read(store) as tx:
        events = tx.execute("SELECT count(*) FROM events WHERE actor = 'system'").fetchone()[0]
    store.dispose()
    return {"open_items": n_open, "open_dossiers": n_dossiers, "setup_seconds": setup_seconds, "runs": runs,
            "system_events": events}


def catchup_section(n_items: int, tmp: Path, pg_base: str) -> None:
    targets = [("SQLite", f"sqlite:///{tmp / 'catchup.db'}", None)]
    if pg_base and pg_reachable(pg_base):
        from engine.store import database_url

        schema = f"bench_{os.getpid()}_catchup"
        targets.append(("PostgreSQL", f"{database_url(pg_base)}#schema={schema}", schema))
    for label, url, schema in targets:
        if schema:
            pg_admin(pg_base, f'create schema "{schema}"')
        try:
            r = run_child(["--peer", "catchup", "--url", url, "--n", str(n_items)])
        finally:
            if schema:
                pg_admin(pg_base, f'drop schema if exists "{schema}" cascade')
        print(f"  {label}: {r['open_items']:,} open work items in {r['open_dossiers']:,} open dossiers "
              f"(set up in {r['setup_seconds']:.0f} s)", flush=True)
        for name, v in r["runs"].items():
            changes = (f"{v['nearly_due']:,} nearly due, {v['overdue']:,} overdue items, "
                       f"{v['dossiers_overdue']:,} overdue dossiers, {v['apologies']:,} apologies, "
                       f"{v['notifications']:,} notifications")
            print(f"    {name:<26} {v['seconds']:7.2f} s wall, {v['cpu']:6.2f} s CPU, {v['statements']:,} statements "
                  f"in {v['transactions']:,} write transactions ({changes})", flush=True)


# --------------------------------------------------------------------------- Prefect machine work


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            f = stats[p]
            total += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / tick  # own + reaped children
        todo.extend(children.get(p, []))
    return total


def prefect_child(n_items: int) -> dict[str, Any]:
    """Drain outbox items with and without Prefect; time timer sweeps over open dossiers.

    Runs against the Prefect server at $PREFECT_API_URL (its pid in
    $BENCH_PREFECT_SERVER_PID) with a fresh SQLite engine database.
    """
    import workflows  # noqa: F401  (Prefect defaults)
    from engine import services as sv
    from workflows.effects import DeliveryLog, EffectContext, OutboxWork, perform
    from workflows.flows import close_stores, drain_outbox, sweep_timers_flow
    from workflows.settings import disable_heartbeats

    from workflows.worker import outbox_due

    server_pid = int(os.environ["BENCH_PREFECT_SERVER_PID"])
    store, actors, cal = setup_engine(os.environ["QUYTRINH_DATABASE_URL"])
    clock = Clock()

    def receive(k: int) -> None:
        for i in range(k):
            sv.receive(store, actors["motcua"], PROCEDURE, applicant=f"Công dân {i}", now=clock.tick(), calendar=cal)

    def queue(n: int) -> None:
        """Receive dossiers until ``n`` outbox items are due (a reception writes a receipt and a unit notice)."""
        while outbox_due(store, clock.t) < n:
            receive(1)

    out: dict[str, Any] = {}
    # 1. Without Prefect: claim, perform, complete — the same effect code, no orchestration.
    queue(n_items)
    ctx = EffectContext(store=store, now=clock.t, worker="bench", log=DeliveryLog(os.environ["QUYTRINH_DELIVERIES"]))
    c0, t0, done = cpu_seconds(), time.perf_counter(), 0
    while True:
        rows = sv.claim_outbox(store, worker="bench", limit=20, now=clock.tick())
        if not rows:
            break
        for row in rows:
            sv.complete_outbox(store, row.id, worker="bench", now=clock.t,
                               result=perform(ctx, OutboxWork.of(row)))
            done += 1
    out["plain"] = {"items": done, "wall_ms": (time.perf_counter() - t0) / done * 1000,
                    "cpu_ms": (cpu_seconds() - c0) / done * 1000}
    with disable_heartbeats():
        # 2. The drain flow: one flow run, one tagged task run per item.
        receive(2)
        drain_outbox(now=clock.tick())  # first run: flow registration, imports
        queue(n_items)
        time.sleep(2)
        s0, c0, t0 = _proc_tree_cpu(server_pid), cpu_seconds(), time.perf_counter()
        report = drain_outbox(now=clock.tick())
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        time.sleep(6)  # the server records task runs from events asynchronously
        server = _proc_tree_cpu(server_pid) - s0
        done = report["done"]
        out["prefect"] = {"items": done, "wall_ms": wall / done * 1000, "cpu_ms": cpu / done * 1000,
                          "server_cpu_ms": server / done * 1000}
        # 2b. The same without the per-dossier tag (dossier in the task run's name only).
        receive(2)
        drain_outbox(now=clock.tick(), dossier_tags=False)  # warm the bounded tag sets
        queue(n_items)
        time.sleep(2)
        s0, c0, t0 = _proc_tree_cpu(server_pid), cpu_seconds(), time.perf_counter()
        report = drain_outbox(now=clock.tick(), dossier_tags=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        time.sleep(6)
        server = _proc_tree_cpu(server_pid) - s0
        done = report["done"]
        out["prefect_untagged"] = {"items": done, "wall_ms": wall / done * 1000, "cpu_ms": cpu / done * 1000,
                                   "server_cpu_ms": server / done * 1000}
        # 2c. Where the tagged drain's time goes: Prefect 3.9 acquires tag concurrency slots for every task run
        # with tags, through a client-side service (its own API client) per distinct tag set; the dossier tag
        # makes every (dossier, unit) a new set. The same call for a new set and for a set seen before.
        from prefect.concurrency._sync import acquire_concurrency_slots_with_lease, release_concurrency_slots_with_lease

        def acquire(names: list[str]) -> float:
            t = time.perf_counter()
            lease = acquire_concurrency_slots_with_lease(names, 1, lease_duration=60, suppress_warnings=True)
            if lease.limits:
                release_concurrency_slots_with_lease(lease.lease_id)
            return time.perf_counter() - t

        probes = 20
        c0 = cpu_seconds()
        new = [acquire([f"tag:dossier:bench-{k}", "tag:procedure:BENCH-REF", "tag:unit:bp_mot_cua"])
               for k in range(probes)]
        new_cpu = cpu_seconds() - c0
        known = [acquire(["tag:dossier:bench-0", "tag:procedure:BENCH-REF", "tag:unit:bp_mot_cua"])
                 for _ in range(probes)]
        from workflows.flows import release_tag_services
        release_tag_services()
        out["tag_sets"] = {"new_ms": sorted(new)[probes // 2] * 1000, "new_cpu_ms": new_cpu / probes * 1000,
                           "known_ms": sorted(known)[probes // 2] * 1000}
        # 3. An empty drain run (what a flow run costs by itself).
        s0, c0, t0 = _proc_tree_cpu(server_pid), cpu_seconds(), time.perf_counter()
        runs = 5
        for _ in range(runs):
            drain_outbox(now=clock.tick())
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        time.sleep(3)
        out["empty_run"] = {"wall_ms": wall / runs * 1000, "cpu_ms": cpu / runs * 1000,
                            "server_cpu_ms": (_proc_tree_cpu(server_pid) - s0) / runs * 1000}
        # 4. Timer sweeps over N open dossiers.
        n_open = env_int("BENCH_SWEEP_DOSSIERS", 500)
        t0 = time.perf_counter()
        import sqlalchemy as sa

        from engine.store import Dossier
        with store.session() as s:
            have = s.execute(sa.select(sa.func.count()).select_from(Dossier)
                             .where(Dossier.closed_at.is_(None))).scalar_one()
        receive(max(0, n_open - have))
        out["sweep_setup_seconds"] = time.perf_counter() - t0
        from sqlmodel import select

        from engine.store import Dossier
        with store.session() as s:
            open_dossiers = len(s.exec(select(Dossier.id).where(Dossier.closed_at.is_(None))).all())
        sweeps = {}
        for label, at in (("first (items change)", clock.t + dt.timedelta(days=5)),
                          ("steady (nothing changes)", clock.t + dt.timedelta(days=5, seconds=30))):
            t0 = time.perf_counter()
            res = sv.sweep_timers(store, now=at, calendar=cal)
            sweeps[label] = {"seconds": time.perf_counter() - t0, "changed": res.changed, "checked": res.checked}
        t0 = time.perf_counter()
        res = sweep_timers_flow(now=clock.t + dt.timedelta(days=5, minutes=1))
        sweeps["as the sweep flow (steady)"] = {"seconds": time.perf_counter() - t0, "changed": res["changed"],
                                                "checked": res["checked"]}
        out["sweep"] = {"open_dossiers": open_dossiers, "runs": sweeps}
    close_stores()
    store.dispose()
    return out


def prefect_section(n_items: int, tmp: Path) -> None:
    from workflows.local import start_local_server

    port = _free_port()
    t0 = time.perf_counter()
    server = start_local_server(tmp / "prefect-home", port=port, reuse=False, timeout=120)
    started = time.perf_counter() - t0
    try:
        env = {"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp / "prefect-client"),
               "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_LOGGING_TO_API_ENABLED": "false",
               "BENCH_PREFECT_SERVER_PID": str(server.process.pid),
               "QUYTRINH_DATABASE_URL": f"sqlite:///{tmp / 'prefect-engine.db'}",
               "QUYTRINH_DELIVERIES": str(tmp / "deliveries.jsonl")}
        r = run_child(["--peer", "prefect", "--n", str(n_items)], env=env)
        serve_runs = env_int("BENCH_SERVE_RUNS", 3)
        served = run_child(["--peer", "serve", "--n", str(serve_runs)], env=env) if serve_runs > 0 else None
    finally:
        server.stop()
    p, q, u, e = r["plain"], r["prefect"], r["prefect_untagged"], r["empty_run"]
    print(f"  local Prefect server (SQLite) started in {started:.1f} s")
    print(f"  machine work without Prefect: {p['wall_ms']:6.2f} ms/item wall, {p['cpu_ms']:6.2f} ms CPU "
          f"({p['items']} items: claim, perform, complete)")
    print(f"  through the drain flow:       {q['wall_ms']:6.2f} ms/item wall, {q['cpu_ms']:6.2f} ms worker CPU, "
          f"{q['server_cpu_ms']:6.2f} ms Prefect server CPU ({q['items']} items, one tagged task run each)")
    print(f"  added by Prefect per item:    {q['wall_ms'] - p['wall_ms']:6.2f} ms wall, "
          f"{q['cpu_ms'] - p['cpu_ms']:6.2f} ms worker CPU + {q['server_cpu_ms']:.2f} ms server CPU")
    print(f"  without the dossier tag:      {u['wall_ms']:6.2f} ms/item wall, {u['cpu_ms']:6.2f} ms worker CPU, "
          f"{u['server_cpu_ms']:6.2f} ms Prefect server CPU (dossier in the task run name only)")
    ts = r["tag_sets"]
    print(f"  Prefect's tag concurrency slot request, alone (median; the drain skips it for sets without a "
          f"limit, workflows.flows.TagLimits): a new tag set {ts['new_ms']:6.1f} ms wall ({ts['new_cpu_ms']:.1f} ms "
          f"worker CPU: a client-side service and API client per set), a set seen before {ts['known_ms']:5.1f} ms; "
          f"with the dossier tag every (dossier, unit) is a new set")
    print(f"  an empty drain flow run:      {e['wall_ms']:6.1f} ms wall, {e['cpu_ms']:6.1f} ms worker CPU, "
          f"{e['server_cpu_ms']:6.1f} ms server CPU")
    if served is not None:
        print(f"  prefect.serve() of the sweep flow (what the worker does not use): {served['runs']} runs in "
              f"{served['seconds']:.1f} s, {served['cpu']:.1f} s of CPU in the serving process and its per-run "
              f"subprocesses = {served['cpu'] / max(served['runs'], 1):.2f} s CPU per run")
    sw = r["sweep"]
    for label, v in sw["runs"].items():
        print(f"  timer sweep, {sw['open_dossiers']} open dossiers, {label}: {v['seconds'] * 1000:7.0f} ms "
              f"({v['checked']} timed items checked, {v['changed']} changes)")


_SERVE = """
import datetime as dt
import workflows
from prefect import serve
from workflows.flows import sweep_timers_flow
serve(sweep_timers_flow.to_deployment(name="bench-serve", interval=dt.timedelta(hours=1)))
"""


def serve_child(n_runs: int) -> dict[str, Any]:
    """Serve the sweep flow with ``prefect.serve()``, start ``n_runs`` runs of it, and measure their CPU.

    The CPU is that of the serving process and its per-run subprocesses, from
    when the deployment is registered until the runs are final.
    """
    import signal

    import workflows  # noqa: F401
    from prefect.client.orchestration import get_client

    proc = subprocess.Popen([sys.executable, "-c", _SERVE], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 120
            dep = None
            while dep is None and time.monotonic() < deadline:
                try:
                    dep = client.read_deployment_by_name("quytrinh-sweep-timers/bench-serve")
                except Exception:  # noqa: BLE001 - not registered yet
                    time.sleep(0.5)
            if dep is None:
                return {"runs": 0, "cpu": 0.0, "seconds": 0.0}
            time.sleep(2)
            cpu0, t0 = _proc_tree_cpu(proc.pid), time.perf_counter()
            ids = [client.create_flow_run_from_deployment(dep.id).id for _ in range(n_runs)]
            done: set = set()
            while len(done) < n_runs and time.monotonic() < deadline + 240:
                for fid in ids:
                    state = client.read_flow_run(fid).state
                    if state is not None and state.is_final():
                        done.add(fid)
                time.sleep(0.5)
            seconds = time.perf_counter() - t0
            completed = sum(1 for fid in ids if client.read_flow_run(fid).state.is_completed())
            cpu = _proc_tree_cpu(proc.pid) - cpu0
        return {"runs": completed, "cpu": cpu, "seconds": seconds}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------- main


def main() -> int:
    n = env_int("BENCH_DOSSIERS", 2000)
    pg_base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    n_pg = env_int("BENCH_PG_DOSSIERS", min(n, 500))
    n_inbox = env_int("BENCH_INBOX_ITEMS", 1_000_000)
    n_prefect = env_int("BENCH_PREFECT_ITEMS", 60)
    tmp = Path(tempfile.mkdtemp(prefix="quytrinh-bench-"))
    ok = True
    started = time.perf_counter()
    try:
        print(f"reference procedure: {n} dossiers ({len(range(0, n, SUPPLEMENT_EVERY))} through the "
              f"supplementation loop), {transitions_for(n)} transitions, one transaction each", flush=True)
        sqlite_urls = {p: f"sqlite:///{tmp / f'{p}.db'}" for p in ("engine", "spiff", "floor", "sql")}
        sqlite = run_peers("SQLite", sqlite_urls, n)
        ok &= all(r["ok"] for r in sqlite.values())
        print(f"  SQLite: {summary(sqlite, 'sqlite')}; by own CPU time: {summary(sqlite, 'sqlite', 'tps_cpu')}",
              flush=True)
        sql, spiff = sqlite["sql"], sqlite["spiff"]
        print(f"  SQLite: the engine's statements alone (peer 'sql', no Python logic) run at {sql['tps']:.0f}/s = "
              f"{sql['tps'] / spiff['tps']:.1f}x spiffworkflow: the ceiling of this schema's writes, "
              f"{sqlite['engine']['tps'] / sql['tps'] * 100:.0f}% of it reached", flush=True)

        if pg_base and pg_reachable(pg_base):
            from engine.store import database_url

            sa_base = database_url(pg_base)
            schemas = {p: f"bench_{os.getpid()}_{p}" for p in ("engine", "spiff", "floor")}
            for s in schemas.values():
                pg_admin(pg_base, f'create schema "{s}"')
            try:
                urls = {"engine": pg_schema_url(sa_base, schemas["engine"], sqlalchemy=True),
                        "spiff": pg_schema_url(pg_base, schemas["spiff"], sqlalchemy=False),
                        "floor": pg_schema_url(pg_base, schemas["floor"], sqlalchemy=False)}
                pg = run_peers("PostgreSQL", urls, n_pg)
                ok &= all(r["ok"] for r in pg.values())
                print(f"  PostgreSQL: {summary(pg, 'postgresql')}; by own CPU time: "
                      f"{summary(pg, 'postgresql', 'tps_cpu')}", flush=True)
            finally:
                for s in schemas.values():
                    pg_admin(pg_base, f'drop schema if exists "{s}" cascade')

            if n_inbox > 0:
                schema = f"bench_{os.getpid()}_inbox"
                pg_admin(pg_base, f'create schema "{schema}"')
                try:
                    r = run_child(["--peer", "inbox", "--url", f"{database_url(pg_base)}#schema={schema}",
                                   "--n", str(n_inbox)])
                finally:
                    pg_admin(pg_base, f'drop schema if exists "{schema}" cascade')
                print(f"inbox query (engine.services.list_tasks) on PostgreSQL: {r['items']:,} work items "
                      f"({r['open']:,} open, {r['claimed']:,} of them claimed) in {r['dossiers']:,} dossiers, "
                      f"loaded with COPY in {r['load_seconds']:.1f} s (then VACUUM ANALYZE)")
                rows = ", ".join(f"{k}: {v}" for k, v in r["rows"].items())
                print(f"  {r['queries']} queries by unit and by user: p50 {r['p50_ms']:.1f} ms, "
                      f"p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms (target p95 <= 50 ms; rows: {rows})")
                print(f"  CPU time of the querying process per query: p50 {r['cpu_p50_ms']:.1f} ms, "
                      f"p95 {r['cpu_p95_ms']:.1f} ms (the wall-clock figures above grow with other load)")
                for shape, plan in r["plans"].items():
                    print(f"  plan by {shape}: {plan}", flush=True)
        elif pg_base:
            print(f"PostgreSQL at {pg_base} is not reachable: its figures were not measured")

        n_catchup = env_int("BENCH_CATCHUP_ITEMS", 10_000)
        if n_catchup > 0:
            print(f"timer sweep catch-up after an outage (engine.services.sweep_timers, no Prefect): "
                  f"~{n_catchup:,} open work items whose instants passed", flush=True)
            catchup_section(n_catchup, tmp, pg_base)

        if n_prefect > 0:
            print(f"Prefect machine work ({n_prefect} outbox items, local Prefect server, SQLite engine database)",
                  flush=True)
            prefect_section(n_prefect, tmp)
        print(f"(bench ran {time.perf_counter() - started:.0f} s; {load_note()}: wall-clock figures are "
              f"inflated when other work shares the machine)")
        print(summary(sqlite, "sqlite"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    if "--peer" in sys.argv:
        child_main(sys.argv[1:])
    else:
        sys.exit(main())
