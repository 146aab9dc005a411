"""`tropesearch search`, `similar` and `serve` through click's CliRunner (and one real gunicorn run, slow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tropesearch_cli import search_cmd
from tropesearch_cli.main import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_runner(monkeypatch, encoder):
    """CliRunner whose commands reuse the session's encoder instead of loading the model again."""
    calls = []

    def encoder_for(model, backend):
        calls.append((model, backend))
        return encoder

    monkeypatch.setattr(search_cmd, "_encoder_for", encoder_for)
    runner = CliRunner()
    runner.encoder_calls = calls
    return runner


def run(runner, *args):
    return runner.invoke(cli, list(map(str, args)), catch_exceptions=False)


def test_help_texts(cli_runner):
    for command, words in (("search", ["QUERY", "--k", "--mode", "--media", "--json", "--index-dir"]),
                           ("similar", ["PASSAGE_ID", "--k", "--scope", "--json", "--index-dir"]),
                           ("serve", ["--index-dir", "--host", "--port", "--workers", "--threads", "--dev"])):
        result = run(cli_runner, command, "--help")
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in result.output, (command, word)
    top = run(cli_runner, "--help").output
    assert "search" in top and "similar" in top and "serve" in top


def test_search_human_output(cli_runner, tiny_index_dir):
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "aliens seduce humans", "--k", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "results for 'aliens seduce humans'" in lines[0]
    ranked = [line for line in lines if line[:5].strip().isdigit()]
    assert len(ranked) == 3
    assert ranked[0].split()[0] == "1" and "Boldly Coming" in ranked[0]
    float(ranked[0].split()[1])  # the score
    assert sum(1 for line in lines if line.strip().startswith("id ")) == 3
    # --backend auto: the tiny index is embedded by torch, whose vectors fp32 ONNX reproduces faster
    assert cli_runner.encoder_calls == [(None, "onnx")]


def test_search_words_join_and_filters(cli_runner, tiny_index_dir, tiny_version):
    with tiny_version.connect() as conn:
        media = conn.execute("SELECT media FROM passages WHERE media IS NOT NULL GROUP BY media "
                             "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "an", "alien", "romance", "--media", media,
                 "--k", "4", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["query"] == "an alien romance" and len(body["results"]) == 4
    assert all(r["media"] == media for r in body["results"])


def test_search_json(cli_runner, tiny_index_dir, tiny_version):
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "aliens seduce humans", "--json",
                 "--mode", "dense", "--k", "5")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"query", "mode", "k", "offset", "total", "took_ms", "index_version", "results"}
    assert body["mode"] == "dense" and body["index_version"] == tiny_version.version_id
    assert body["results"][0]["trope"]["id"] == "BoldlyComing"


def test_similar(cli_runner, tiny_index_dir):
    top = json.loads(run(cli_runner, "search", "--index-dir", tiny_index_dir, "aliens seduce humans", "--json").output)
    pid = top["results"][0]["id"]
    result = run(cli_runner, "similar", "--index-dir", tiny_index_dir, pid, "--k", "4")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Passages like {pid} of Boldly Coming")
    assert f"id {pid}" not in result.output
    assert sum(1 for line in result.output.splitlines() if line.strip().startswith("id ")) == 4
    body = json.loads(run(cli_runner, "similar", "--index-dir", tiny_index_dir, pid, "--json",
                          "--scope", "other-tropes").output)
    assert body["results"] and all(r["trope"]["id"] != "BoldlyComing" and r["id"] != pid for r in body["results"])


def test_missing_index_is_an_error(cli_runner, tmp_path):
    empty = tmp_path / "none"
    for args in (("search", "--index-dir", empty, "aliens"), ("similar", "--index-dir", empty, "abc")):
        result = run(cli_runner, *args)
        assert result.exit_code == 1
        assert result.output.startswith("Error: no index published under")
        assert "tropesearch build" in result.output and "Traceback" not in result.output
    assert cli_runner.encoder_calls == []   # failed before loading the model


def test_domain_errors_are_clean(cli_runner, tiny_index_dir):
    result = run(cli_runner, "similar", "--index-dir", tiny_index_dir, "nosuchpassage")
    assert result.exit_code == 1 and result.output.startswith("Error: no passage with id 'nosuchpassage'")
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "   ")
    assert result.exit_code == 1 and "Error: empty query" in result.output
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "x" * 1001)
    assert result.exit_code == 1 and "Error: query too long" in result.output
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "a", "--k", "0")
    assert result.exit_code == 2 and "--k" in result.output
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "a", "--mode", "fuzzy")
    assert result.exit_code == 2


def test_model_mismatch_is_an_error(cli_runner, tiny_index_dir, monkeypatch):
    class OtherModel:
        fingerprint = "0000000000000000"
        name = "other"

    monkeypatch.setattr(search_cmd, "_encoder_for", lambda model, backend: OtherModel())
    result = run(cli_runner, "search", "--index-dir", tiny_index_dir, "aliens")
    assert result.exit_code == 1 and result.output.startswith("Error: index at") and "fingerprint" in result.output


def test_serve_rejects_bad_settings(cli_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("TROPESEARCH_WORKERS", "lots")
    result = run(cli_runner, "serve", "--index-dir", tmp_path)
    assert result.exit_code == 1
    assert "Error: bad value 'lots' for setting WORKERS" in result.output and "TROPESEARCH_WORKERS" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_runs_gunicorn(tiny_index_dir, tmp_path):
    """A real `tropesearch serve`: gunicorn, one gthread worker, readyz, a search, then SIGTERM."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TROPESEARCH_RELOAD_INTERVAL": "0.5"}
    env.pop("TROPESEARCH_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tropesearch_cli.main import cli; cli()", "serve", "--index-dir",
         str(tiny_index_dir), "--port", str(port), "--workers", "1", "--threads", "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
                    ready = resp.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        assert ready, f"server never became ready (exit {proc.poll()})"
        with urllib.request.urlopen(base + "/api/search?q=aliens+seduce+humans&k=3", timeout=60) as resp:
            body = json.load(resp)
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert body["results"][0]["trope"]["id"] == "BoldlyComing"
        with urllib.request.urlopen(base + "/", timeout=30) as resp:
            assert b"Find the trope" in resp.read()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert f"at http://127.0.0.1:{port}/" in out, out
    assert "gthread" in out or "Booting worker" in out, out
