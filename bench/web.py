"""Benchmark: 50 concurrent staff sessions against the real web app (uvicorn subprocess, loopback).

Each virtual member of staff signs in (a browser session for the inbox page and
an API token for the actions), then loops until the time is up: view the inbox
page (``GET /inbox``), act on one of its own work items listed there (``POST
/api/tasks/{id}/complete`` with the outcome, the dossier's version read from
the page, and an Idempotency-Key; one-stop staff with nothing to deliver
receive a new dossier with ``POST /api/dossiers`` every fourth idle round),
then think for one second. Every session starts at its own moment within the
first think time, as independent people do. The staff follow procedure 1.001612 (one-stop staff, office heads,
office staff, clerks); staff who share a unit and role split the items by id,
so no two of them race for one item.

Printed: requests, p50 / p99 latency per kind and overall as the clients
measure it (what the targets are about), next to the time the same requests
spent inside the app (the server's timing log, ``$QUYTRINH_TIMING_LOG``,
matched by X-Request-Id: the gap is accepting and parsing the connection,
waiting for the server's event loop, and the client itself), the server's
garbage collections, errors (transport errors, 5xx and any unexpected 4xx),
and the check afterwards that every action the server reported done is in the
event log (events and work items).
Targets: p99 <= 200 ms, 0 errors, nothing lost. Exit status 1 when errors or
lost actions.

Environment: BENCH_WEB_SECONDS (60), BENCH_WEB_USERS (50), BENCH_WEB_THINK
(1.0 s), BENCH_WEB_PG_URL (also run on PostgreSQL, e.g.
postgresql://postgres@127.0.0.1:5432/test; unset or "" skips it).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, ROOT)

import datetime as dt  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

PROCEDURE = "1.001612"
PASSWORD = "bench-Mat-khau-1"
OUTCOMES = {"assign": "done", "appraise": "ok", "check": "ok", "sign": "approve", "issue": "done", "deliver": None}
#: One-stop staff with nothing to deliver receive a new dossier every this many idle rounds: new work
#: arrives a little slower than the offices can handle it, so inboxes stay at a working size.
RECEIVE_EVERY = 4
#: (unit, role, share of the sessions): the 1.001612 process, roughly by workload.
MIX = [("bp_mot_cua", "staff", 0.2), ("phong_tckh", "head", 0.3), ("phong_tckh", "staff", 0.3),
       ("van_phong", "clerk", 0.2)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def seed(url: str, users: int) -> list[tuple[str, str, str, int, int]]:
    """Units, 1.001612 and the bench staff: [(username, unit, role, index among peers, peers)]."""
    from sqlalchemy import update

    from engine import services as sv
    from engine.definition import load_catalogue
    from engine.store import User, init_db
    from quytrinh.web.auth import hash_password

    store = init_db(url)
    root = Path(ROOT) / "procedures_yaml"
    cat = load_catalogue([next(root.rglob(f"{PROCEDURE}-*.yaml"))])
    now = dt.datetime.now(dt.timezone.utc)
    counts = [max(1, round(users * share)) for *_, share in MIX]
    counts[2] += users - sum(counts)
    staff = []
    with store.write() as s:
        sv.seed_organisation(s, cat.organisation)
        sv.publish_definition(s, cat.find(PROCEDURE), now=now, by="bench")
        for (unit, role, _), n in zip(MIX, counts):
            for i in range(n):
                name = f"b_{unit}_{role}_{i}"
                sv.add_user(s, name, unit=unit, role=role, now=now, full_name=name)
                staff.append((name, unit, role, i, n))
        s.execute(update(User).values(password_hash=hash_password(PASSWORD)))
    store.dispose()
    return staff


class Stats:
    """Latencies, errors and the actions the server reported done (shared by the session threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.done: list[dict] = []
        self.stop_at = float("inf")  # set once every session has signed in
        self.ticks: dict[str, int] = defaultdict(int)
        self.kinds: dict[str, str] = {}  # X-Request-Id -> kind, to read the server's timing log

    def request_id(self, kind: str) -> str:
        with self.lock:
            rid = str(len(self.kinds) + 1)
            self.kinds[rid] = kind
            return rid

    def tick(self, name: str) -> int:
        with self.lock:
            self.ticks[name] += 1
            return self.ticks[name]

    def record(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.lat[kind].append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _timed(stats: Stats, kind: str, fn, *args, **kw):
    rid = stats.request_id(kind)
    kw["headers"] = {**kw.get("headers", {}), "X-Request-Id": rid}
    t = time.perf_counter()
    try:
        r = fn(*args, **kw)
    except httpx.HTTPError as exc:
        stats.error(f"{kind}: {type(exc).__name__}: {exc}")
        return None
    stats.record(kind, time.perf_counter() - t)
    if r.status_code >= 400:
        stats.error(f"{kind}: {r.status_code} {r.text[:200]}")
        return None
    return r


#: The kind of the first request of every session, all sent at the same instant (printed apart).
BURST = "burst"

ROW_RE = re.compile(r'data-item="(\d+)" data-dossier="[^"]*" data-step="(\w+)" data-version="(\d+)"')


def _iteration(c: httpx.Client, api: dict, user: tuple, stats: Stats) -> None:
    """View the inbox page; act on one of my items (the step and version come from the page)."""
    name, unit, role, idx, peers = user
    r = _timed(stats, "GET /inbox", c.get, "/inbox")
    own = r.text.split("Việc khác của", 1)[0] if r is not None else ""
    mine = [(int(i), step, int(v)) for i, step, v in ROW_RE.findall(own)
            if int(i) % peers == idx and step in OUTCOMES]
    key = uuid.uuid4().hex
    if mine:
        item, step, version = mine[0]
        r = _timed(stats, "POST complete", c.post, f"/api/tasks/{item}/complete",
                   json={"outcome": OUTCOMES[step], "comment": f"bench {name}", "expected_version": version},
                   headers={**api, "Idempotency-Key": key})
    elif unit == "bp_mot_cua" and stats.tick(name) % RECEIVE_EVERY == 0:
        r = _timed(stats, "POST receive", c.post, "/api/dossiers",
                   json={"procedure_code": PROCEDURE, "applicant": f"Hộ kinh doanh {name}"},
                   headers={**api, "Idempotency-Key": key})
    else:
        r = None
    if r is not None:
        with stats.lock:
            stats.done.append(r.json())


def session(base: str, user: tuple, stats: Stats, think: float, ready: threading.Barrier) -> None:
    """One member of staff: sign in (page and API), wait for everyone, then work until the deadline."""
    name = user[0]
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            page = c.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
            if r.status_code != 303:
                raise RuntimeError(f"sign-in answered {r.status_code}")
            bearer = c.post("/api/auth/token", json={"username": name, "password": PASSWORD}).json()["access_token"]
            api = {"Authorization": f"Bearer {bearer}"}
            ready.wait()
            # First, every session views its inbox at the same instant: the burst is printed on its own line,
            # outside the p50 / p99 figures. Then each session starts at its own moment within one think time,
            # as independent people do (left phase-locked, 50 sessions would repeat that burst for the first
            # rounds, which no office produces).
            _timed(stats, BURST, c.get, "/inbox")
            time.sleep(random.Random(name).uniform(0, think))
            while time.monotonic() < stats.stop_at:
                _iteration(c, api, user, stats)
                time.sleep(think)
    except threading.BrokenBarrierError:
        pass
    except Exception as exc:  # a broken session is an error of the run, not a crash of the bench
        stats.error(f"{name}: {type(exc).__name__}: {exc}")
        ready.abort()


def server_timings(text: str, kinds: dict[str, str], since: float) -> tuple[dict[str, list[float]],
                                                                           list[tuple[str, float]]]:
    """The server's timing log (``$QUYTRINH_TIMING_LOG``): milliseconds in the app per request kind (matched
    by X-Request-Id), and the garbage collections (generation, milliseconds) that ended after ``since``
    (epoch seconds: the start of the measured run, sign-ins excluded)."""
    inside: dict[str, list[float]] = defaultdict(list)
    gcs: list[tuple[str, float]] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 6 and f[2] == "GC":
            if float(f[0]) >= since:
                gcs.append((f[3], float(f[1])))
        elif len(f) == 6 and f[5] in kinds:
            inside[kinds[f[5]]].append(float(f[1]))
    return inside, gcs


def verify(url: str, done: list[dict]) -> tuple[int, list[str]]:
    """Every action the server reported done has its events in the log (and its work item closed)."""
    import sqlalchemy as sa

    from engine.store import Event, Store, WorkItem

    store = Store(url)
    with store.engine.connect() as conn:
        event_ids = set(conn.execute(sa.select(Event.id)).scalars().all())
        states = dict(conn.execute(sa.select(WorkItem.id, WorkItem.state)).all())
    store.dispose()
    lost = []
    for res in done:
        missing = [e for e in res["events"] if e not in event_ids]
        if missing or not res["events"]:
            lost.append(f"{res['action']} on {res['dossier_code']}: events {missing or 'none'} missing")
        if res["action"] == "complete" and states.get(res["item_id"]) != "done":
            lost.append(f"work item {res['item_id']} is {states.get(res['item_id'])}, not done")
    return len(event_ids), lost


def run(url: str, label: str, users: int, seconds: float, think: float) -> bool:
    """Seed ``url``, start the server on it, run the sessions, print the figures; True when clean."""
    staff = seed(url, users)
    port = _free_port()
    timing = tempfile.NamedTemporaryFile(prefix="bench-web-timing-", suffix=".log", delete=False)
    timing.close()
    env = {**os.environ, "QUYTRINH_DATABASE_URL": url, "QUYTRINH_SECRET_KEY": uuid.uuid4().hex,
           "QUYTRINH_CATALOGUE_DIR": str(Path(ROOT) / "procedures_yaml"), "QUYTRINH_TIMING_LOG": timing.name,
           "QUYTRINH_WARM_DECISION": "off"}  # the staff's pages alone: not the leaders' decision drawn meanwhile
    log = tempfile.NamedTemporaryFile(prefix="bench-web-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "quytrinh.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    stats = Stats()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print(f"{label}: the server did not start (see {log.name})")
                return False
            time.sleep(0.2)
        ready = threading.Barrier(len(staff) + 1, timeout=300)
        threads = [threading.Thread(target=session, args=(base, u, stats, think, ready), daemon=True) for u in staff]
        for th in threads:
            th.start()
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            print(f"{label}: sessions could not sign in: {stats.errors[:3]}")
            return False
        t0, started = time.monotonic(), time.time()
        cpu0 = _cpu_seconds(proc.pid)
        stats.stop_at = t0 + seconds
        for th in threads:
            th.join(timeout=seconds + 120)
        elapsed = time.monotonic() - t0
        server_cpu = _cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        timings = Path(timing.name).read_text(encoding="utf-8")
        os.unlink(timing.name)
    events, lost = verify(url, stats.done)
    inside, gcs = server_timings(timings, stats.kinds, since=started)
    burst = stats.lat.pop(BURST, [])
    allv = [v for vs in stats.lat.values() for v in vs]
    print(f"== {label}: {len(staff)} concurrent staff sessions for {elapsed:.0f} s, think time {think:g} s")
    for kind in sorted(stats.lat):
        vs, ins = stats.lat[kind], inside.get(kind, [])
        print(f"   {kind:<15} {len(vs):>6} requests  p50 {_pct(vs, 50) * 1000:6.1f} ms  "
              f"p99 {_pct(vs, 99) * 1000:6.1f} ms   in the app: p50 {_pct(ins, 50):6.1f} ms  p99 {_pct(ins, 99):6.1f} ms")
    p50, p99 = _pct(allv, 50) * 1000, _pct(allv, 99) * 1000
    alli = [v for kind, vs in inside.items() if kind != BURST for v in vs]
    print(f"   {'all':<15} {len(allv):>6} requests  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   in the app: "
          f"p50 {_pct(alli, 50):6.1f} ms  p99 {_pct(alli, 99):6.1f} ms  ({len(allv) / max(elapsed, 1e-9):.0f} requests/s)")
    print(f"   first, all sessions at the same instant: GET /inbox x {len(burst)}: p50 {_pct(burst, 50) * 1000:.1f} ms, "
          f"slowest {max(burst, default=float('nan')) * 1000:.1f} ms (not in the figures above)")
    full = [ms for gen, ms in gcs if gen == "gen2"]
    print(f"   server garbage collections during the run: {len(gcs)}, longest {max((ms for _, ms in gcs), default=0):.1f} ms; "
          f"full ones: {len(full)}, longest {max(full, default=0):.1f} ms")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   server CPU: {server_cpu / max(len(allv), 1) * 1000:.1f} ms per request "
          f"({server_cpu / max(elapsed, 1e-9) * 100:.0f}% of one core); machine load average {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    acts: dict[str, int] = defaultdict(int)
    for r in stats.done:
        acts[r["action"]] += 1
    print(f"   actions done: {', '.join(f'{k} {v}' for k, v in sorted(acts.items()))}; errors: {len(stats.errors)}; "
          f"events in the log: {events}; actions missing from the log: {len(lost)}")
    for e in stats.errors[:10]:
        print(f"   error: {e}")
    for e in lost[:10]:
        print(f"   lost: {e}")
    print(f"   target p99 <= 200 ms: {'met' if p99 <= 200 else 'NOT met'}; zero errors: "
          f"{'yes' if not stats.errors else 'NO'}; nothing lost: {'yes' if not lost else 'NO'}")
    return not stats.errors and not lost


def _pg_schema(base: str):
    """A fresh schema in the PostgreSQL database ``base``: (url, drop)."""
    import sqlalchemy as sa

    from engine.store import database_url

    base = database_url(base)
    schema = f"bench_web_{uuid.uuid4().hex[:10]}"
    eng = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        conn.exec_driver_sql(f'create schema "{schema}"')

    def drop() -> None:
        with eng.connect() as conn:
            conn.exec_driver_sql(f'drop schema if exists "{schema}" cascade')
        eng.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def main() -> int:
    seconds = float(os.environ.get("BENCH_WEB_SECONDS", "60"))
    users = int(os.environ.get("BENCH_WEB_USERS", "50"))
    think = float(os.environ.get("BENCH_WEB_THINK", "1.0"))
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        ok &= run(f"sqlite:///{tmp}/bench.db", "SQLite", users, seconds, think)
    pg = os.environ.get("BENCH_WEB_PG_URL", "")
    if pg:
        url, drop = _pg_schema(pg)
        try:
            ok &= run(url, "PostgreSQL", users, seconds, think)
        finally:
            drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
