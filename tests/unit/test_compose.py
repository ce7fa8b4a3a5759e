"""docker-compose.yml, .env.example and the Dockerfile agree with each other and with the CLI.

No container engine runs here, so this reads the files the way Compose would and checks
every name they reference: services, volumes, variables, ports, build contexts, commands.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
import yaml
from click.testing import CliRunner

from countonce.cli import main_group
from countonce.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, $NAME
INTERPOLATION = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
ESCAPED_IN_CONTAINER = re.compile(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for number, line in enumerate((REPO / ".env.example").read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), (
            f".env.example line {number} is not NAME=value: {line!r}"
        )
        values[name] = value
    return values


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def interpolated(text: str) -> list[re.Match]:
    """Compose interpolations in `text`; `$$` is a literal dollar for the container."""
    return list(INTERPOLATION.finditer(text.replace("$$", "")))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def resolve(value: str, env: dict[str, str]) -> str:
    """Interpolate `value` the way Compose does, with `env` as the .env file."""

    def one(match: re.Match) -> str:
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        unset_or_empty = not current
        if op in (":-", "-") and (unset_or_empty if op == ":-" else current is None):
            return arg
        if op in (":?", "?") and (unset_or_empty if op == ":?" else current is None):
            raise AssertionError(f"{name} is required: {arg}")
        if op in (":+", "+"):
            return arg if not unset_or_empty else ""
        return current or ""

    return INTERPOLATION.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def command_of(service: dict) -> list[str]:
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command or [])


def image_cmd(dockerfile: list[tuple[str, str]]) -> list[str]:
    cmds = [args for instruction, args in dockerfile if instruction == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    return json.loads(cmds[-1])


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short or long syntax."""
    out = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            out.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, _, rest = entry.partition(":")
            out.append((source, rest.split(":")[0]))
    return out


def test_every_variable_is_defined_in_env_example(compose_text, env_example):
    names = {m["braced"] or m["bare"] for m in interpolated(compose_text)}
    assert names, "docker-compose.yml configures nothing through .env"
    assert sorted(names - set(env_example)) == []


def test_every_env_example_variable_is_used(compose_text, env_example):
    names = {m["braced"] or m["bare"] for m in interpolated(compose_text)}
    assert sorted(set(env_example) - names) == [], "set in .env.example but Compose ignores it"


def test_required_variables_have_an_example_value(compose_text, env_example):
    for match in interpolated(compose_text):
        if match["op"] in (":?", "?"):
            name = match["braced"]
            assert env_example.get(name), f"{name} is required but empty in .env.example"


def test_the_file_resolves_with_the_example_env(compose_text, env_example):
    yaml.safe_load(resolve(compose_text, env_example))


def test_container_variables_are_set_in_their_service(compose):
    for name, service in compose["services"].items():
        text = json.dumps(service)
        env = environment(service)
        for variable in ESCAPED_IN_CONTAINER.findall(text):
            assert variable in env, f"service {name} uses $${variable} but does not set it"


def test_countonce_variables_are_settings(compose, dockerfile):
    source = (REPO / "countonce" / "settings.py").read_text()
    names = {v for s in compose["services"].values() for v in environment(s)}
    names |= {
        part.split("=")[0]
        for instruction, args in dockerfile
        if instruction == "ENV"
        for part in args.split()
    }
    for name in sorted(n for n in names if n.startswith("COUNTONCE_")):
        assert f'"{name}"' in source, f"{name} is passed to a container but Settings ignores it"


def test_depends_on_names_defined_services(compose):
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or []
        conditions = depends if isinstance(depends, dict) else {d: {} for d in depends}
        for other, spec in conditions.items():
            assert other in services, f"{name} depends on undefined service {other}"
            if (spec or {}).get("condition") == "service_healthy":
                assert "healthcheck" in services[other], f"{other} has no healthcheck"


def test_postgres_is_16_with_healthcheck_and_volume(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[1].split(".")[0] == "16"
    assert "test" in postgres["healthcheck"]
    assert ("pgdata", "/var/lib/postgresql/data") in mounts(postgres)


def test_named_volumes_are_declared(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for source, _ in mounts(service):
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"service {name} mounts undeclared volume {source}"
                used.add(source)
    assert declared == used, f"declared but never mounted: {sorted(declared - used)}"


def test_hosts_in_connection_settings_are_services(compose):
    services = compose["services"]
    for name, service in services.items():
        host = environment(service).get("PGHOST")
        if host:
            assert host in services, f"{name} connects to {host}, which is not a service"


def test_ports_publish_what_the_containers_listen_on(compose, env_example):
    listens = {"postgres": "5432"}
    docs = command_of(compose["services"]["docs"])
    listens["docs"] = docs[docs.index("http.server") + 1]
    webhooks = command_of(compose["services"]["webhooks"])
    listens["webhooks"] = webhooks[webhooks.index("--port") + 1]
    published = {}
    for name, service in compose["services"].items():
        for entry in service.get("ports") or []:
            parts = resolve(str(entry), env_example).split(":")
            host_port, container_port = parts[-2], parts[-1].split("/")[0]
            assert host_port.isdigit() and 0 < int(host_port) < 65536, entry
            assert container_port == listens.get(name), (
                f"{name} publishes {container_port} but listens on {listens.get(name)}"
            )
            assert host_port not in published, (
                f"host port {host_port} published by both {published.get(host_port)} and {name}"
            )
            published[host_port] = name
    assert set(published.values()) >= {"postgres", "docs", "webhooks"}


def test_build_context_and_dockerfile_exist(compose):
    built = {}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (REPO / context).is_dir(), f"{name}: build context {context} is missing"
        assert (REPO / context / dockerfile).is_file(), f"{name}: {dockerfile} is missing"
        built[service.get("image")] = name
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if "build" not in service and image.startswith("countonce"):
            assert image in built, f"{name} uses image {image}, which no service builds"


def test_dockerfile_installs_from_the_lock_and_copies_what_exists(dockerfile):
    runs = " ".join(args for instruction, args in dockerfile if instruction == "RUN")
    assert re.search(
        r"pip install[^&;]*(-c|--constraint|-r|--requirement)\s+requirements\.lock", runs
    )
    copied = set()
    for instruction, args in dockerfile:
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"the Dockerfile copies missing {source}"
                copied.add(source)
    assert "requirements.lock" in copied
    packages = {"countonce", "ingest", "expectations", "scheduler", "dbt_project"}
    assert packages <= copied, f"the image lacks {sorted(packages - copied)}"


def test_image_paths_match_the_mounts(compose, dockerfile):
    env = {}
    for instruction, args in dockerfile:
        if instruction == "ENV":
            env.update(part.split("=", 1) for part in args.split() if "=" in part)
    home = PurePosixPath(env["COUNTONCE_HOME"])
    scheduler = dict((t, s) for s, t in mounts(compose["services"]["scheduler"]))
    assert str(home) in scheduler, "the scheduler's COUNTONCE_HOME is not on a volume"
    assert env["COUNTONCE_INBOX"] in scheduler, "the scheduler's inbox is not mounted"

    docs_service = compose["services"]["docs"]
    docs = command_of(docs_service)
    served = PurePosixPath(docs[docs.index("--directory") + 1])
    site = PurePosixPath(load_settings({"COUNTONCE_HOME": str(home)}).site_dir.as_posix())
    assert served == site, f"docs serves {served}, countonce publishes to {site}"
    docs_mounts = dict((t, s) for s, t in mounts(docs_service))
    assert docs_mounts.get(str(home)) == scheduler[str(home)], "docs does not see the site"


def cli_commands(argv: list[str]) -> list[str]:
    assert argv[0] == "countonce", f"expected a countonce command, got {argv}"
    return argv[1:]


def test_the_image_command_exists_in_the_cli(compose, dockerfile):
    commands = [image_cmd(dockerfile)]
    for service in compose["services"].values():
        if service.get("image", "").startswith("countonce") and command_of(service)[:1] == [
            "countonce"
        ]:
            commands.append(command_of(service))
    runner = CliRunner()
    for argv in commands:
        args = cli_commands(argv)
        assert args[0] in main_group.commands, f"`countonce {args[0]}` is not a command"
        result = runner.invoke(main_group, [*args, "--help"])
        assert result.exit_code == 0, result.output


def test_the_docs_command_runs_in_the_image(compose):
    docs = command_of(compose["services"]["docs"])
    assert docs[:2] == ["python", "-m"], docs
    assert importlib.util.find_spec(docs[2]) is not None, f"no module {docs[2]}"


def test_the_webhook_service_is_signed_only_and_configured_from_env(compose, env_example):
    service = compose["services"]["webhooks"]
    command = command_of(service)
    assert cli_commands(command)[0] == "serve" and "--insecure-no-auth" not in command
    env = environment(service)
    secrets = [m for m in interpolated(env["COUNTONCE_WEBHOOK_SECRETS"]) if m["braced"]]
    assert secrets and secrets[0]["op"] == ":?", "the webhook secret must be required"
    settings = {n for n in env_example if n.startswith("COUNTONCE_WEBHOOK_")}
    assert settings <= set(env), f"not passed to the webhooks service: {settings - set(env)}"
    for entry in service["ports"]:
        assert resolve(str(entry), env_example).startswith("127.0.0.1:"), (
            "published beyond loopback"
        )
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}/" in " ".join(service["healthcheck"]["test"])
