"""The image contract (port, user, entrypoint, command, healthcheck, environment) read from a
Dockerfile's final stage or from an OCI image config, and the drift between two of them."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

SECOND = 1_000_000_000

# Docker's values for healthcheck options a Dockerfile or image config leaves out.
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_RETRIES = 3

# Where the Nix image must name explicitly what a Debian base provides by default: the
# executables' location, the CA bundle and the time zone database. Not part of the contract.
NIX_PLATFORM_ENV = frozenset({"PATH", "SSL_CERT_FILE", "TZDIR"})

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": 3600 * SECOND,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: int = DEFAULT_INTERVAL
    timeout: int = DEFAULT_TIMEOUT
    start_period: int = DEFAULT_START_PERIOD
    retries: int = DEFAULT_RETRIES


@dataclass(frozen=True)
class ImageContract:
    ports: frozenset[str] = frozenset()
    user: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def parse_duration(text: str) -> int:
    """A Go duration as Docker accepts it ("10s", "1m30s", "500ms") in nanoseconds."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r}")
    return round(total)


def _logical_lines(text: str) -> list[str]:
    """Instructions with continuation lines joined and comment lines dropped, as Docker does."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and current):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1]
            continue
        current += raw
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def _final_stage(text: str) -> list[tuple[str, str]]:
    stage: list[tuple[str, str]] = []
    for line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = []
        stage.append((keyword, rest.strip()))
    return stage


_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def _expand(value: str, variables: Mapping[str, str]) -> str:
    """Docker's $NAME, ${NAME} and ${NAME:-default} substitution (unknown names are empty)."""

    def replace(match: re.Match[str]) -> str:
        braced, default, bare = match.groups()
        found = variables.get(braced or bare, "")
        return found if found or default is None else default

    return _VARIABLE.sub(replace, value)


def _env_pairs(rest: str, variables: Mapping[str, str]) -> dict[str, str]:
    tokens = shlex.split(rest, posix=True)
    if tokens and "=" not in tokens[0]:
        # Legacy form: ENV NAME value with spaces
        name, _, value = rest.partition(" ")
        return {name: _expand(value.strip(), variables)}
    pairs: dict[str, str] = {}
    for token in tokens:
        name, _, value = token.partition("=")
        pairs[name] = _expand(value, {**variables, **pairs})
    return pairs


def _command(rest: str) -> tuple[str, ...]:
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
                return tuple(parsed)
    return ("/bin/sh", "-c", rest)


def _healthcheck(rest: str) -> Healthcheck | None:
    options: dict[str, str] = {}
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, value = option[2:].partition("=")
        options[name] = value
        rest = rest.strip()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() == "NONE":
        return None
    if keyword.upper() != "CMD":
        raise ValueError(f"HEALTHCHECK without CMD: {rest!r}")
    parsed = _command(command.strip())
    test = ("CMD", *parsed) if command.strip().startswith("[") else ("CMD-SHELL", command.strip())
    return Healthcheck(
        test=test,
        interval=parse_duration(options.get("interval", "30s")),
        timeout=parse_duration(options.get("timeout", "30s")),
        start_period=parse_duration(options.get("start-period", "0s")),
        retries=int(options.get("retries", str(DEFAULT_RETRIES))),
    )


def from_dockerfile(text: str) -> ImageContract:
    """The contract set by the final stage of a Dockerfile."""
    ports: set[str] = set()
    user = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    env: dict[str, str] = {}
    args: dict[str, str] = {}
    for keyword, rest in _final_stage(text):
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "ENV":
            env.update(_env_pairs(rest, {**args, **env}))
        elif keyword == "USER":
            user = _expand(rest, {**args, **env})
        elif keyword == "EXPOSE":
            for port in _expand(rest, {**args, **env}).split():
                ports.add(port if "/" in port else f"{port}/tcp")
        elif keyword == "ENTRYPOINT":
            entrypoint = _command(rest)
        elif keyword == "CMD":
            cmd = _command(rest)
        elif keyword == "HEALTHCHECK":
            healthcheck = _healthcheck(rest)
    return ImageContract(frozenset(ports), user, entrypoint, cmd, healthcheck, env)


def from_image_config(config: Mapping[str, Any]) -> ImageContract:
    """The contract held by an OCI/Docker image config (the `config` of the image JSON)."""
    check = config.get("Healthcheck")
    healthcheck = None
    if check and check.get("Test") != ["NONE"]:
        healthcheck = Healthcheck(
            test=tuple(check["Test"]),
            interval=check.get("Interval") or DEFAULT_INTERVAL,
            timeout=check.get("Timeout") or DEFAULT_TIMEOUT,
            start_period=check.get("StartPeriod") or DEFAULT_START_PERIOD,
            retries=check.get("Retries") or DEFAULT_RETRIES,
        )
    env = dict(item.partition("=")[::2] for item in config.get("Env", []))
    return ImageContract(
        ports=frozenset(config.get("ExposedPorts", {})),
        user=config.get("User", ""),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        healthcheck=healthcheck,
        env=env,
    )


def _by_basename(command: tuple[str, ...]) -> tuple[str, ...]:
    """Executables live at different absolute paths in the two images; compare their names."""
    if not command:
        return command
    return (PurePosixPath(command[0]).name, *command[1:])


def _check_test(check: Healthcheck) -> tuple[str, ...]:
    if check.test and check.test[0] == "CMD":
        return ("CMD", *_by_basename(check.test[1:]))
    return check.test


def drift(dockerfile: ImageContract, nix: ImageContract) -> list[str]:
    """Every way the Nix image departs from the Dockerfile's contract (empty when none)."""
    found: list[str] = []

    def compare(what: str, docker_value: Any, nix_value: Any) -> None:
        if docker_value != nix_value:
            found.append(f"{what}: Dockerfile {docker_value!r} != Nix {nix_value!r}")

    compare("port", sorted(dockerfile.ports), sorted(nix.ports))
    compare("user", dockerfile.user, nix.user)
    compare("entrypoint", _by_basename(dockerfile.entrypoint), _by_basename(nix.entrypoint))
    compare("cmd", _by_basename(dockerfile.cmd), _by_basename(nix.cmd))
    docker_check, nix_check = dockerfile.healthcheck, nix.healthcheck
    if docker_check is None or nix_check is None:
        compare("healthcheck", docker_check, nix_check)
    else:
        compare("healthcheck test", _check_test(docker_check), _check_test(nix_check))
        for name in ("interval", "timeout", "start_period", "retries"):
            compare(f"healthcheck {name}", getattr(docker_check, name), getattr(nix_check, name))
    docker_env = {k: v for k, v in dockerfile.env.items() if k != "PATH"}
    nix_env = {k: v for k, v in nix.env.items() if k not in NIX_PLATFORM_ENV}
    for name in sorted(docker_env.keys() | nix_env.keys()):
        compare(f"env {name}", docker_env.get(name), nix_env.get(name))
    return found
