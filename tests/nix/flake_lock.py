"""Consistency of flake.lock with the inputs flake.nix declares: what `nix flake lock` would
otherwise rewrite, or what `--no-update-lock-file` would refuse."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REV = re.compile(r"[0-9a-f]{40}")
_NAR_HASH = re.compile(r"sha256-[A-Za-z0-9+/]{43}=")
_GITHUB_REF = re.compile(r"github:(?P<owner>[^/?#]+)/(?P<repo>[^/?#]+)(?:/(?P<ref>[^?#]+))?")


def parse_flake_url(url: str) -> dict[str, str]:
    """The `original` attribute Nix writes for a github: flake reference."""
    match = _GITHUB_REF.fullmatch(url)
    if match is None:
        raise ValueError(f"only github: references are expected here, got {url!r}")
    original = {"type": "github", "owner": match["owner"], "repo": match["repo"]}
    if match["ref"]:
        original["rev" if _REV.fullmatch(match["ref"]) else "ref"] = match["ref"]
    return original


def lock_problems(
    inputs: Mapping[str, Any], lock: Mapping[str, Any], outputs_args: set[str] | None = None
) -> list[str]:
    """Everything in `lock` that disagrees with flake.nix's `inputs` (empty when consistent)."""
    problems: list[str] = []
    if lock.get("version") != 7:
        problems.append(f"lock version {lock.get('version')!r}, expected 7")
    nodes: Mapping[str, Any] = lock.get("nodes", {})
    root_name = lock.get("root")
    if root_name != "root" or root_name not in nodes:
        return [*problems, f"lock root {root_name!r} is not the node 'root'"]
    root_inputs: Mapping[str, Any] = nodes["root"].get("inputs", {})

    if set(root_inputs) != set(inputs):
        problems.append(
            f"root inputs {sorted(root_inputs)} differ from flake.nix inputs {sorted(inputs)}"
        )
    if outputs_args is not None and not outputs_args <= set(inputs) | {"self"}:
        problems.append(f"outputs takes unknown inputs {sorted(outputs_args - set(inputs))}")

    for name, declared in inputs.items():
        target = root_inputs.get(name)
        if not isinstance(target, str) or target not in nodes:
            problems.append(f"input {name}: root points to {target!r}, not to a node")
            continue
        node = nodes[target]
        problems += _node_problems(name, declared, node)

    problems += _unreachable(nodes)
    return problems


def _node_problems(name: str, declared: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    expected = parse_flake_url(declared["url"])
    if node.get("original") != expected:
        problems.append(
            f"input {name}: original {node.get('original')!r} != flake.nix {expected!r}"
        )
    locked = node.get("locked", {})
    for key in ("type", "owner", "repo"):
        if locked.get(key) != expected[key]:
            problems.append(f"input {name}: locked {key} {locked.get(key)!r} != {expected[key]!r}")
    if not _REV.fullmatch(str(locked.get("rev", ""))):
        problems.append(f"input {name}: locked rev {locked.get('rev')!r} is not 40 hex digits")
    if not _NAR_HASH.fullmatch(str(locked.get("narHash", ""))):
        problems.append(f"input {name}: narHash {locked.get('narHash')!r} is not sha256 SRI")
    modified = locked.get("lastModified")
    if not isinstance(modified, int) or isinstance(modified, bool) or modified <= 0:
        problems.append(f"input {name}: lastModified {modified!r} is not a timestamp")

    declared_follows = {
        sub: spec["follows"].split("/")
        for sub, spec in declared.get("inputs", {}).items()
        if "follows" in spec
    }
    node_inputs: Mapping[str, Any] = node.get("inputs", {})
    for sub, path in declared_follows.items():
        if node_inputs.get(sub) != path:
            problems.append(
                f"input {name}: follows {sub} -> {path} missing, lock has {node_inputs.get(sub)!r}"
            )
    for sub, value in node_inputs.items():
        if isinstance(value, list) and sub not in declared_follows:
            problems.append(f"input {name}: lock follows {sub} -> {value} not in flake.nix")
    return problems


def _unreachable(nodes: Mapping[str, Any]) -> list[str]:
    """Nodes the root does not reach, and node references that point nowhere."""
    problems: list[str] = []
    seen: set[str] = set()
    pending = ["root"]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for sub, value in nodes[current].get("inputs", {}).items():
            if isinstance(value, str):
                if value not in nodes:
                    problems.append(f"node {current}: input {sub} points to missing node {value}")
                else:
                    pending.append(value)
            elif isinstance(value, list) and (
                not value or value[0] not in nodes["root"].get("inputs", {})
            ):
                problems.append(f"node {current}: follows path {value} does not start at root")
    for name in sorted(set(nodes) - seen):
        problems.append(f"node {name} is not reachable from root")
    return problems
