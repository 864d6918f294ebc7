"""Which packages of uv.lock the image needs (the runtime closure of the project) and whether
each has a wheel the Nix build can use, so that building the image compiles nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

ARCHITECTURES = ("x86_64", "aarch64")

# pyproject.nix accepts a manylinux wheel when the stdenv's glibc is at least the tag's. The
# pinned nixpkgs has a newer glibc than this; accepting only up to 2.40 errs on the safe side.
GLIBC_MINOR = 40

# The legacy manylinux names and the glibc each stands for (PEP 600).
_LEGACY_MANYLINUX = {
    "x86_64": {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"},
    "aarch64": {17: "manylinux2014"},
}

Package = Mapping[str, Any]


def marker_environment(python_version: str, patch: int, arch: str) -> dict[str, str]:
    """PEP 508 marker values for CPython on glibc Linux."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.{patch}",
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python_version}.{patch}",
        "python_version": python_version,
        "sys_platform": "linux",
        "extra": "",
    }


def _applies(dependency: Mapping[str, Any], environment: dict[str, str]) -> bool:
    marker = dependency.get("marker")
    return marker is None or Marker(marker).evaluate(environment)


def runtime_closure(
    lock: Mapping[str, Any], roots: Mapping[str, Sequence[str]], python_version: str, arch: str
) -> dict[str, Package]:
    """Packages a virtualenv of `roots` (name -> extras, as uv2nix's mkVirtualEnv takes them)
    installs for this interpreter and architecture: dependencies and the extras asked for,
    never dependency groups.

    The interpreter's patch release is not known here, so markers are evaluated for both ends
    of the minor series and the union is kept: the check then covers a superset.
    """
    by_name = {package["name"]: package for package in lock["package"]}
    environments = [marker_environment(python_version, patch, arch) for patch in (0, 99)]
    closure: dict[str, Package] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [
        (name, tuple(sorted(extras))) for name, extras in roots.items()
    ]
    visited: set[tuple[str, tuple[str, ...]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        package = by_name[name]
        closure[name] = package
        dependencies = list(package.get("dependencies", []))
        for extra in extras:
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        for dependency in dependencies:
            if any(_applies(dependency, env) for env in environments):
                pending.append((dependency["name"], tuple(sorted(dependency.get("extra", [])))))
    return closure


def linux_platforms(arch: str, glibc_minor: int = GLIBC_MINOR) -> list[str]:
    platforms: list[str] = []
    for minor in range(glibc_minor, 4, -1):
        platforms.append(f"manylinux_2_{minor}_{arch}")
        legacy = _LEGACY_MANYLINUX[arch].get(minor)
        if legacy:
            platforms.append(f"{legacy}_{arch}")
    return platforms


def supported_tags(python_version: str, arch: str) -> set[Tag]:
    """Wheel tags CPython `python_version` on glibc Linux `arch` installs: cpXY, abi3 and pure."""
    major, minor = (int(part) for part in python_version.split("."))
    platforms = linux_platforms(arch)
    version = (major, minor)
    return set(cpython_tags(version, abis=[f"cp{major}{minor}"], platforms=platforms)) | set(
        compatible_tags(version, interpreter=f"cp{major}{minor}", platforms=platforms)
    )


def wheel_tags(package: Package) -> Iterable[frozenset[Tag]]:
    for wheel in package.get("wheels", []):
        filename = wheel["url"].rsplit("/", 1)[-1]
        yield parse_wheel_filename(filename)[3]


def packages_without_wheel(
    lock: Mapping[str, Any], roots: Mapping[str, Sequence[str]], python_version: str, arch: str
) -> list[str]:
    """Packages in the closure of `roots` with no usable wheel, other than packages built from
    the project's own source (uv.lock marks those editable or directory sources)."""
    supported = supported_tags(python_version, arch)
    missing = []
    for name, package in sorted(runtime_closure(lock, roots, python_version, arch).items()):
        source = package.get("source", {})
        if "editable" in source or "directory" in source or "virtual" in source:
            continue
        if not any(tags & supported for tags in wheel_tags(package)):
            missing.append(f"{name} {package.get('version')}")
    return missing
