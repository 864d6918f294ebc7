"""The Nix image holds the same contract as the Dockerfile, and drift on either side shows."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.nix import image_contract
from tests.nix.image_contract import SECOND, Healthcheck, from_dockerfile, from_image_config
from tests.nix.nix_instantiate import STUBS, NixInstantiate


def nix_image_config(nix: NixInstantiate, image_module: Path) -> dict[str, Any]:
    config: dict[str, Any] = nix.eval(STUBS / "image.nix", imageModule=image_module)["config"]
    return config


def contract_drift(nix: NixInstantiate, dockerfile: Path, image_module: Path) -> list[str]:
    return image_contract.drift(
        from_dockerfile(dockerfile.read_text()),
        from_image_config(nix_image_config(nix, image_module)),
    )


def test_nix_image_matches_dockerfile_contract(nix: NixInstantiate, repo_root: Path) -> None:
    dockerfile = from_dockerfile((repo_root / "Dockerfile").read_text())
    nix = from_image_config(nix_image_config(nix, repo_root / "nix/image.nix"))

    # The contract itself is present (an empty Dockerfile would "match" an empty image).
    assert dockerfile.ports == {"8080/tcp"}
    assert dockerfile.user == "65532:65532"
    assert dockerfile.healthcheck is not None
    assert dockerfile.env.get("PORT") == "8080"

    assert image_contract.drift(dockerfile, nix) == []


def test_contract_values(nix: NixInstantiate, repo_root: Path) -> None:
    nix = from_image_config(nix_image_config(nix, repo_root / "nix/image.nix"))
    assert nix.ports == {"8080/tcp"}
    assert nix.user == "65532:65532"
    assert nix.entrypoint[0].endswith("-tini/bin/tini")
    assert nix.entrypoint[1:] == ("--",)
    assert nix.cmd[0].endswith("-gemini-agent-env/bin/agent")
    assert nix.cmd[1:] == ("serve",)
    assert nix.healthcheck == Healthcheck(
        test=("CMD", nix.cmd[0], "healthcheck"),
        interval=10 * SECOND,
        timeout=3 * SECOND,
        start_period=10 * SECOND,
        retries=3,
    )


# Appended instructions win in the final stage, whatever the Dockerfile's layout.
DOCKERFILE_DRIFTS = {
    "uid": ("USER 65533:65532", "user"),
    "port": ("EXPOSE 9090", "port"),
    "entrypoint": ('ENTRYPOINT ["/usr/bin/dumb-init", "--"]', "entrypoint"),
    "cmd": ('CMD ["agent", "worker"]', "cmd"),
    "healthcheck-interval": (
        "HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 "
        'CMD ["agent", "healthcheck"]',
        "healthcheck interval",
    ),
    "healthcheck-command": (
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 "
        'CMD ["agent", "ready"]',
        "healthcheck test",
    ),
    "env-added": ("ENV LOG_LEVEL=debug", "env LOG_LEVEL"),
    "env-changed": ("ENV PYTHONUNBUFFERED=0", "env PYTHONUNBUFFERED"),
}


@pytest.mark.parametrize("name", sorted(DOCKERFILE_DRIFTS))
def test_dockerfile_side_drift_is_reported(
    name: str, nix: NixInstantiate, repo_root: Path, tmp_path: Path
) -> None:
    instruction, expected = DOCKERFILE_DRIFTS[name]
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((repo_root / "Dockerfile").read_text() + f"\n{instruction}\n")

    found = contract_drift(nix, dockerfile, repo_root / "nix/image.nix")

    assert [line for line in found if line.startswith(f"{expected}:")], found


# Edits to a copy of nix/image.nix: (pattern, replacement, drift lines expected).
NIX_DRIFTS = {
    "port": (r"port = 8080;", "port = 8081;", ["port", "env PORT"]),
    "uid": (r"uid = 65532;", "uid = 65533;", ["user"]),
    "healthcheck-timeout": (
        r"Timeout = seconds 3;",
        "Timeout = seconds 5;",
        ["healthcheck timeout"],
    ),
    "env-dropped": (r'"PYTHONUNBUFFERED=1"', "", ["env PYTHONUNBUFFERED"]),
}


@pytest.mark.parametrize("name", sorted(NIX_DRIFTS))
def test_nix_side_drift_is_reported(
    name: str, nix: NixInstantiate, repo_root: Path, tmp_path: Path
) -> None:
    pattern, replacement, expected = NIX_DRIFTS[name]
    image_module = tmp_path / "image.nix"
    text, count = re.subn(pattern, replacement, (repo_root / "nix/image.nix").read_text())
    assert count == 1, f"{pattern!r} not found once in nix/image.nix"
    image_module.write_text(text)

    found = contract_drift(nix, repo_root / "Dockerfile", image_module)

    assert sorted(line.partition(":")[0] for line in found) == sorted(expected), found


def test_unchanged_copies_do_not_drift(
    nix: NixInstantiate, repo_root: Path, tmp_path: Path
) -> None:
    # The drift tests above fail for the edit, not for being evaluated from a copy.
    shutil.copy(repo_root / "nix/image.nix", tmp_path / "image.nix")
    shutil.copy(repo_root / "Dockerfile", tmp_path / "Dockerfile")
    assert contract_drift(nix, tmp_path / "Dockerfile", tmp_path / "image.nix") == []


def test_image_is_reproducible_and_self_contained(image_args: dict[str, Any]) -> None:
    assert image_args["created"] == "1970-01-01T00:00:01Z"
    assert image_args.get("mtime", "1970-01-01T00:00:01Z") == "1970-01-01T00:00:01Z"
    assert "now" not in repr(image_args)
    assert image_args["name"] == "gemini-agent"


def test_image_root_filesystem(image_args: dict[str, Any]) -> None:
    contents = image_args["contents"]
    assert any(isinstance(c, str) and c.endswith("-ca-certificates") for c in contents)
    accounts = [c["fakeNssOverride"] for c in contents if isinstance(c, dict)]
    assert accounts == [
        {
            "extraPasswdLines": ["app:x:65532:65532:app:/var/empty:/sbin/nologin"],
            "extraGroupLines": ["app:x:65532:"],
        }
    ]
    # dockerTools runs extraCommands in the image root: the path must be relative.
    assert re.search(r"(^|\s)mkdir -m 1777 tmp(\s|$)", image_args["extraCommands"])


def test_platform_environment_points_into_its_packages(image_args: dict[str, Any]) -> None:
    env = dict(item.partition("=")[::2] for item in image_args["config"]["Env"])
    assert re.fullmatch(
        r"/nix/store/\w+-nss-cacert/etc/ssl/certs/ca-bundle\.crt", env["SSL_CERT_FILE"]
    )
    assert re.fullmatch(r"/nix/store/\w+-tzdata/share/zoneinfo", env["TZDIR"])
    assert env["PATH"].endswith("-gemini-agent-env/bin")


class TestDockerfileParsing:
    def test_final_stage_only(self) -> None:
        text = (
            "FROM base AS build\nUSER 1000\nEXPOSE 9999\nENV A=1\n"
            "FROM base AS runtime\nENV B=2\nUSER 65532:65532\nEXPOSE 8080 9090/udp\n"
        )
        contract = from_dockerfile(text)
        assert contract.user == "65532:65532"
        assert contract.ports == {"8080/tcp", "9090/udp"}
        assert contract.env == {"B": "2"}

    def test_env_forms_continuations_and_comments(self) -> None:
        text = (
            "FROM base\n"
            "ENV PATH=/app/bin:$PATH \\\n    # a comment inside the continuation\n"
            '    GREETING="hello world" \\\n    EMPTY= \\\n    REF=${GREETING}!\n'
            "ENV LEGACY spaced value\n"
        )
        env = from_dockerfile(text).env
        assert env == {
            "PATH": "/app/bin:",
            "GREETING": "hello world",
            "EMPTY": "",
            "REF": "hello world!",
            "LEGACY": "spaced value",
        }

    def test_exec_and_shell_forms(self) -> None:
        contract = from_dockerfile(
            'FROM base\nENTRYPOINT ["/usr/bin/tini", "--"]\nCMD agent serve --port 1\n'
        )
        assert contract.entrypoint == ("/usr/bin/tini", "--")
        assert contract.cmd == ("/bin/sh", "-c", "agent serve --port 1")

    def test_healthcheck_options_and_defaults(self) -> None:
        check = from_dockerfile(
            'FROM base\nHEALTHCHECK --interval=1m30s --start-period=500ms CMD ["a", "b"]\n'
        ).healthcheck
        assert check == Healthcheck(
            test=("CMD", "a", "b"),
            interval=90 * SECOND,
            timeout=30 * SECOND,
            start_period=SECOND // 2,
            retries=3,
        )
        assert from_dockerfile("FROM base\nHEALTHCHECK NONE\n").healthcheck is None

    def test_image_config_defaults_match_dockerfile_defaults(self) -> None:
        config = {"Healthcheck": {"Test": ["CMD", "/x/bin/a", "b"]}}
        docker = from_dockerfile('FROM base\nHEALTHCHECK CMD ["a", "b"]\n')
        assert image_contract.drift(docker, from_image_config(config)) == []

    @pytest.mark.parametrize(
        ("text", "nanoseconds"),
        [("10s", 10 * SECOND), ("1h2m", 3720 * SECOND), ("1.5s", 1500 * 10**6), ("0", 0)],
    )
    def test_durations(self, text: str, nanoseconds: int) -> None:
        assert image_contract.parse_duration(text) == nanoseconds

    @pytest.mark.parametrize("text", ["", "10", "s", "10x", "1s2"])
    def test_bad_durations(self, text: str) -> None:
        with pytest.raises(ValueError):
            image_contract.parse_duration(text)
