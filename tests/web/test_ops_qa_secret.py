"""The signing key of ``quytrinh serve --workers N`` started for the first time (no ``$QUYTRINH_SECRET_KEY``,
no ``var/secret.key`` yet): every process must end up with the same key, or a session signed by one is
refused by another (a user signed out at random, forms refused as forged) until a restart."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
from pathlib import Path


def _load(path: str, barrier, out) -> None:
    os.environ.pop("QUYTRINH_SECRET_KEY", None)
    from quytrinh.web.auth import load_secret

    barrier.wait()  # every process reads and creates the file at the same moment, as uvicorn's workers do
    out.put(load_secret(Path(path)))


def test_processes_started_together_share_one_key_kept_on_disk(tmp_path):
    ctx = mp.get_context("fork")
    n, rounds = 8, 6
    for k in range(rounds):
        path = tmp_path / f"round-{k}" / "secret.key"
        barrier, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_load, args=(str(path), barrier, out)) for _ in range(n)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        on_disk = path.read_text().strip()
        assert set(keys) == {on_disk}, f"round {k}: {len(set(keys))} different keys"
        assert len(on_disk) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary file left


def test_a_kept_key_is_read_back_and_an_empty_file_gets_one(tmp_path, monkeypatch):
    from quytrinh.web.auth import load_secret

    monkeypatch.delenv("QUYTRINH_SECRET_KEY", raising=False)
    path = tmp_path / "var" / "secret.key"
    first = load_secret(path)
    assert load_secret(path) == first == path.read_text().strip()
    path.write_text("")  # emptied by hand: a new key, kept
    again = load_secret(path)
    assert again and again != first and path.read_text().strip() == again
    monkeypatch.setenv("QUYTRINH_SECRET_KEY", "from-the-environment")
    assert load_secret(path) == "from-the-environment"
