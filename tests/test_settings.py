"""Settings: defaults < TROPESEARCH_CONFIG file (TOML/JSON) < TROPESEARCH_* env < the config dict; validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchsvc.settings import SETTINGS, SettingsError, describe_settings, load_settings

REQUIRED = {"INDEX_DIR", "MODEL", "BACKEND", "HOST", "PORT", "WORKERS", "THREADS", "RELOAD_INTERVAL", "WARM_UP"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("TROPESEARCH_"):
            monkeypatch.delenv(key)


def test_defaults():
    s = load_settings()
    assert REQUIRED <= set(s)
    assert s["INDEX_DIR"] == Path("var/index")
    assert s["MODEL"] is None and s["BACKEND"] == "auto"
    assert (s["HOST"], s["PORT"], s["WORKERS"], s["THREADS"]) == ("127.0.0.1", 8000, 2, 4)
    assert s["RELOAD_INTERVAL"] == 2.0 and s["WARM_UP"] is True


def test_every_setting_has_help():
    for setting in SETTINGS:
        assert setting.help and setting.env == f"TROPESEARCH_{setting.name}"
    text = describe_settings()
    assert all(name in text for name in REQUIRED)


def test_toml_file(tmp_path, monkeypatch):
    cfg = tmp_path / "svc.toml"
    cfg.write_text('index_dir = "/srv/index"\nPORT = 9001\nwarm_up = false\nreload_interval = 0.5\n')
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(cfg))
    s = load_settings()
    assert s["INDEX_DIR"] == Path("/srv/index") and s["PORT"] == 9001
    assert s["WARM_UP"] is False and s["RELOAD_INTERVAL"] == 0.5


def test_toml_table_and_json_file(tmp_path, monkeypatch):
    cfg = tmp_path / "svc.toml"
    cfg.write_text('[tropesearch]\nworkers = 3\n')
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(cfg))
    assert load_settings()["WORKERS"] == 3
    cfg = tmp_path / "svc.json"
    cfg.write_text(json.dumps({"THREADS": 8, "model": "/models/x"}))
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(cfg))
    s = load_settings()
    assert s["THREADS"] == 8 and s["MODEL"] == "/models/x"


def test_layering_env_over_file_and_dict_over_env(tmp_path, monkeypatch):
    cfg = tmp_path / "svc.toml"
    cfg.write_text("port = 9001\nworkers = 3\nthreads = 5\n")
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(cfg))
    monkeypatch.setenv("TROPESEARCH_PORT", "9002")
    monkeypatch.setenv("TROPESEARCH_WORKERS", "4")
    s = load_settings({"WORKERS": 6})
    assert s["PORT"] == 9002          # env beats file
    assert s["WORKERS"] == 6          # dict beats env
    assert s["THREADS"] == 5          # file beats default


def test_env_values_are_parsed(monkeypatch):
    monkeypatch.setenv("TROPESEARCH_WARM_UP", "no")
    monkeypatch.setenv("TROPESEARCH_RELOAD_INTERVAL", "0.25")
    monkeypatch.setenv("TROPESEARCH_MODEL", "")
    monkeypatch.setenv("TROPESEARCH_INDEX_DIR", "~/idx")
    s = load_settings()
    assert s["WARM_UP"] is False and s["RELOAD_INTERVAL"] == 0.25 and s["MODEL"] is None
    assert s["INDEX_DIR"] == Path("~/idx").expanduser()


def test_extra_keys_pass_through():
    marker = object()
    s = load_settings({"ENCODER": marker, "TESTING": True})
    assert s["ENCODER"] is marker and s["TESTING"] is True


@pytest.mark.parametrize("name,value", [
    ("PORT", "eighty"), ("PORT", "0"), ("PORT", "70000"), ("WORKERS", "0"), ("THREADS", "-1"),
    ("RELOAD_INTERVAL", "-1"), ("RELOAD_INTERVAL", "soon"), ("RELOAD_INTERVAL", "nan"), ("WARM_UP", "maybe"),
    ("BACKEND", "tensorflow"), ("HOST", ""), ("HOST", "a b"), ("INDEX_DIR", " "), ("LOG_LEVEL", "LOUD"),
])
def test_bad_env_values_name_the_setting_and_the_env_var(monkeypatch, name, value):
    monkeypatch.setenv(f"TROPESEARCH_{name}", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert name in message and f"TROPESEARCH_{name}" in message and repr(value) in message


@pytest.mark.parametrize("name,value", [("PORT", True), ("PORT", 1.5), ("WORKERS", "2x"), ("WARM_UP", 3),
                                        ("INDEX_DIR", 42), ("MODEL", 3)])
def test_bad_dict_values(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_config_file_problems(tmp_path, monkeypatch):
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="TROPESEARCH_CONFIG"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 3")
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(bad))
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(bad))
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings()
    typo = tmp_path / "typo.toml"
    typo.write_text("prot = 8000")
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(typo))
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings()
    bad_value = tmp_path / "value.toml"
    bad_value.write_text("port = 'x'")
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(bad_value))
    with pytest.raises(SettingsError, match=r"PORT \(from config file"):
        load_settings()


def test_create_app_validates_settings(tmp_path, encoder, monkeypatch):
    from searchsvc.app import create_app

    monkeypatch.setenv("TROPESEARCH_RELOAD_INTERVAL", "-5")
    with pytest.raises(SettingsError, match="TROPESEARCH_RELOAD_INTERVAL"):
        create_app({"INDEX_DIR": str(tmp_path), "ENCODER": encoder})


def test_create_app_uses_the_layers(tmp_path, encoder, monkeypatch):
    from searchsvc.app import create_app

    cfg = tmp_path / "svc.toml"
    cfg.write_text(f'index_dir = "{tmp_path / "from-file"}"\nreload_interval = 0\npage_size = 7\n')
    monkeypatch.setenv("TROPESEARCH_CONFIG", str(cfg))
    app = create_app({"ENCODER": encoder})
    try:
        holder = app.extensions["tropesearch"]
        assert holder.index_dir == tmp_path / "from-file"
        assert app.config["PAGE_SIZE"] == 7 and holder._thread is None   # 0 disables the watcher
    finally:
        app.extensions["tropesearch"].close()


def test_wsgi_module_loads_nothing_at_import(monkeypatch):
    import importlib

    import searchsvc.wsgi as wsgi

    importlib.reload(wsgi)
    assert wsgi._app is None
    assert callable(wsgi.create_app) and callable(wsgi.get_app)
