"""Stage configuration, the layer build and the LocalStack compose file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts import build_layers
from stacks.config import ConfigError, stage_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "localstack" / "docker-compose.yml"


def test_dev_stacks_carry_the_engineers_prefix() -> None:
    config = stage_config({"stage": "dev", "prefix": "alice"})
    assert config.stack_name("data") == "flightdeck-dev-alice-data"
    assert config.state_machine_prefix == "flightdeck-dev-alice-"
    assert config.runtime_stage == "development"
    assert not config.retain


def test_shared_stages_refuse_a_prefix_and_unknown_stages_fail() -> None:
    assert stage_config({"stage": "prod"}).stack_name("api") == "flightdeck-prod-api"
    with pytest.raises(ConfigError):
        stage_config({"stage": "prod", "prefix": "alice"})
    with pytest.raises(ConfigError):
        stage_config({"stage": "qa"})
    with pytest.raises(ConfigError):
        stage_config({"stage": "dev", "prefix": "Not Valid"})


def test_layer_lock_pins_every_wheel_by_hash() -> None:
    lines = build_layers.LOCK.read_text().splitlines()
    pins = [line for line in lines if "==" in line]
    hashes = [line for line in lines if "--hash=sha256:" in line]
    assert pins
    assert len(pins) == len(hashes)
    names = {p.split("==")[0] for p in pins}
    for dependency in ("langgraph", "psycopg-binary", "pydantic-core", "mangum", "fastapi"):
        assert dependency in names
    # Powertools' Tracer (the `tracer` extra) needs the X-Ray SDK in the layer.
    assert {"aws-xray-sdk", "wrapt"} <= names


def test_layer_lock_covers_every_runtime_dependency_in_pyproject() -> None:
    # Given pyproject's [project].dependencies, then each one (without its extras and version)
    # is pinned in the lock: a dependency added without re-locking fails here, not in Lambda.
    pins = {
        line.split("==")[0] for line in build_layers.LOCK.read_text().splitlines() if "==" in line
    }
    for requirement in build_layers.project_dependencies():
        name = re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, requirement


def test_code_and_core_builds_are_cached_by_content(tmp_path: Path) -> None:
    code = build_layers.build_code(tmp_path / "code")
    handler = code / "functions" / "node_runner" / "handler.py"
    assert handler.is_file()
    assert not list(code.rglob("__pycache__"))
    marker = code / "functions" / "untouched"
    marker.write_text("")
    # Same sources, second build: nothing is copied again.
    build_layers.build_code(tmp_path / "code")
    assert marker.exists()
    core = build_layers.build_core(tmp_path / "core")
    assert (core / "python" / "flightdeck" / "store" / "migrations" / "0001_core.sql").is_file()


def test_core_layer_leaves_out_development_only_code(tmp_path: Path) -> None:
    package = build_layers.build_core(tmp_path / "core") / "python" / "flightdeck"
    assert (package / "engine" / "runner.py").is_file()
    # embedded Postgres, the emulator and `make dev` never ship to Lambda
    assert not (package / "local").exists()


def test_localstack_compose_file_pins_its_image_and_mounts_the_init_hooks() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["localstack"]
    default_image = service["image"].split(":-", 1)[-1].rstrip("}")
    repository, _, tag = default_image.partition(":")
    assert repository == "localstack/localstack"
    assert tag
    assert tag != "latest"
    assert tag[0].isdigit()
    assert "127.0.0.1:4566:4566" in service["ports"]
    hooks = [v for v in service["volumes"] if "/etc/localstack/init/ready.d" in v]
    assert hooks
    host_dir = COMPOSE.parent / hooks[0].split(":")[0]
    scripts = list(host_dir.glob("*.sh"))
    assert scripts
    assert all(s.stat().st_mode & 0o111 for s in scripts)


def _compose_plugin_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


def test_docker_compose_accepts_the_file_where_the_client_has_compose() -> None:
    # `docker compose config` validates the file offline. Where docker or its compose plugin
    # is missing (as on the CI machine), the YAML test above is the check that runs.
    if not _compose_plugin_available():
        assert yaml.safe_load(COMPOSE.read_text())["services"]
        return
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
