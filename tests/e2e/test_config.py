"""Configuration errors stop the server with a message naming the key, the value and
where it came from; check-config validates files."""

from __future__ import annotations

from harness import REPO, run_binary


def test_bad_value_in_file_exits_nonzero_naming_key_and_value(binary, tmp_path):
    config = tmp_path / "sightline.toml"
    config.write_text('[http]\nrequest_timeout = "fortnight"\n')
    result = run_binary(binary, ["--config", str(config), "--data-dir", str(tmp_path / "data")])
    assert result.returncode == 2
    assert f'http.request_timeout = "fortnight" (from {config})' in result.stderr
    assert not (tmp_path / "data").exists(), "nothing may be created before the configuration is valid"


def test_unknown_key_is_named(binary, tmp_path):
    config = tmp_path / "sightline.toml"
    config.write_text("[storage]\ndatadir = \"/tmp/x\"\n")
    result = run_binary(binary, ["--config", str(config)])
    assert result.returncode == 2
    assert "unknown configuration key storage.datadir" in result.stderr
    assert "[storage] has data_dir" in result.stderr


def test_bad_environment_override_names_the_variable(binary, tmp_path):
    result = run_binary(
        binary,
        ["--data-dir", str(tmp_path / "data")],
        env={"SIGHTLINE_HTTP_LISTEN": "127.0.0.1:99999"},
    )
    assert result.returncode == 2
    assert (
        'http.listen = "127.0.0.1:99999" (from environment variable SIGHTLINE_HTTP_LISTEN): '
        'port "99999" is not a number from 0 to 65535'
    ) in result.stderr


def test_environment_and_flags_override_the_file(start_server, tmp_path):
    config = tmp_path / "sightline.toml"
    config.write_text('[log]\nformat = "json"\nlevel = "debug"\n')
    server = start_server(
        extra_args=["--config", str(config), "--log-level", "warn"],
        env={"SIGHTLINE_LOG_FORMAT": "text"},
    )
    assert server.stop() == 0
    log = server.log()
    assert "shutdown complete" not in log, "info lines must be filtered out at level warn"
    assert not log.lstrip().startswith("{"), "SIGHTLINE_LOG_FORMAT=text must beat the file"


def test_check_config_accepts_the_reference_file_and_rejects_bad_ones(binary, tmp_path):
    reference = REPO / "deploy" / "sightline.example.toml"
    good = run_binary(binary, ["check-config", str(reference)])
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"{reference}: configuration is valid"

    bad = tmp_path / "bad.toml"
    bad.write_text('[statsd]\nlisten = "127.0.0.1:8125"\nenabled = "yes"\n')
    result = run_binary(binary, ["check-config", str(bad)])
    assert result.returncode == 1
    assert "statsd.enabled" in result.stderr and '"yes"' in result.stderr
