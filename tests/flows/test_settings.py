"""workflows.settings: the project's Prefect defaults never override the operator."""

from __future__ import annotations

from workflows.settings import PREFECT_DEFAULTS, apply_prefect_defaults, disable_heartbeats


def test_defaults_fill_only_what_the_operator_left_unset(tmp_path):
    env = {"PREFECT_LOGGING_LEVEL": "DEBUG", "PREFECT_SERVER_ANALYTICS_ENABLED": "true"}

    applied = apply_prefect_defaults(env, home=tmp_path / "prefect")

    assert env["PREFECT_LOGGING_LEVEL"] == "DEBUG" and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert "PREFECT_LOGGING_LEVEL" not in applied and "PREFECT_SERVER_ANALYTICS_ENABLED" not in applied
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "false"
    assert env["PREFECT_HOME"] == str((tmp_path / "prefect").resolve())
    assert set(applied) == (set(PREFECT_DEFAULTS) | {"PREFECT_HOME"}) - {
        "PREFECT_LOGGING_LEVEL", "PREFECT_SERVER_ANALYTICS_ENABLED"}
    assert apply_prefect_defaults(env) == {}  # a second call changes nothing


def test_the_defaults_are_valid_prefect_settings_and_heartbeats_can_be_switched_off(monkeypatch):
    from prefect.settings import Settings, get_current_settings

    for key, value in PREFECT_DEFAULTS.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # validates every variable as Prefect reads it
    assert settings.server.analytics_enabled is False
    assert settings.results.persist_by_default is False
    assert settings.server.services.db_vacuum.enabled_vacuum_types >= {"events", "flow_runs"}
    assert settings.server.events.retention_period.days == 7
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    with disable_heartbeats():
        assert get_current_settings().flows.heartbeat_frequency is None
