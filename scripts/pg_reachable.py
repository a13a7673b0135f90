"""Exit 0 when the PostgreSQL server named by the URL answers, 1 otherwise."""
import sys

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a dependency
    sys.exit(1)

url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    with psycopg.connect(url, connect_timeout=3) as conn:
        conn.execute("select 1")
except Exception:
    sys.exit(1)
sys.exit(0)
