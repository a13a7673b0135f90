"""`quytrinh serve`: the web app (FastAPI under uvicorn).

    quytrinh serve [--host 127.0.0.1] [--port 8000]

The database is ``$QUYTRINH_DATABASE_URL`` (default ``var/quytrinh.db`` of the project's folder,
:func:`engine.store.default_database_path`),
migrated on start, with the catalogue's units loaded. Sessions are signed with
``$QUYTRINH_SECRET_KEY`` (else a random key kept in ``var/secret.key``).
"""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ lắng nghe."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Cổng."),
    workers: int = typer.Option(1, "--workers", min=1, help="Số tiến trình phục vụ."),
) -> None:
    """Chạy ứng dụng web (hộp việc, tiếp nhận hồ sơ, API /api, tài liệu API /docs)."""
    import uvicorn

    from quytrinh.commands.dossier import open_store

    open_store()  # migrate and load units.yaml once, with one-line errors
    typer.echo(f"Ứng dụng web: http://{host}:{port}/  (tài liệu API: http://{host}:{port}/docs)")
    uvicorn.run("quytrinh.web.app:create_served_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the quytrinh command."""
    app.command("serve")(serve)
