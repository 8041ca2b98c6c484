"""The Dockerfiles install what the code needs, at pyproject.toml's versions, and start real things.

No container engine runs here, so no image is built: these tests read the Dockerfiles. They
check that every `pip install` names a dependency of pyproject.toml with the very same version
range, that each image installs every third-party distribution its code imports (found by
walking the imports of the modules it runs), that the serving and operator images stay free of
TensorFlow, that bases are pinned and users non-root, and that the commands they name exist.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "infra" / "docker"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PINS = {
    canonicalize_name(Requirement(r).name): Requirement(r)
    for r in PYPROJECT["project"]["dependencies"]
}
SOURCES = {
    "kiln": ROOT / "services" / "kiln",
    "kiln_operator": ROOT / "operators" / "kiln_operator",
}
# What each image runs: the modules whose imports it must satisfy, and what it must not hold.
IMAGES = {
    "ray.Dockerfile": (["kiln"], set()),
    "serve.Dockerfile": (
        ["kiln.serving", "kiln.registry", "kiln.cli"],
        {"tensorflow", "keras", "tf2onnx"},
    ),
    "operator.Dockerfile": (["kiln_operator"], {"tensorflow", "keras", "tf2onnx", "ray"}),
}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def pip_requirements(dockerfile: Path) -> list[Requirement]:
    """Requirements of every `pip install` except the project itself (a path)."""
    found = []
    for word, rest in instructions(dockerfile):
        if word != "RUN" or "pip install" not in rest:
            continue
        for command in rest.split("&&"):
            tokens = shlex.split(command)
            if tokens[:2] != ["pip", "install"]:
                continue
            for token in tokens[2:]:
                if token.startswith("-") or token.startswith("/"):
                    continue
                # ray.Dockerfile adds TensorFlow's CUDA extra through a build argument.
                found.append(Requirement(token.replace("${TF_EXTRA}", "")))
    return found


def module_file(module: str) -> Path | None:
    top, *rest = module.split(".")
    if top not in SOURCES:
        return None
    base = SOURCES[top].joinpath(*rest)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def third_party_imports(entry_modules: list[str]) -> set[str]:
    """Top-level external modules imported, transitively through Kiln's own modules."""
    return _walk(entry_modules)[1]


def kiln_files_reached(entry_modules: list[str]) -> set[Path]:
    """Kiln's own source files an image's entry modules import, transitively."""
    return _walk(entry_modules)[0]


def _walk(entry_modules: list[str]) -> tuple[set[Path], set[str]]:
    seen: set[Path] = set()
    external: set[str] = set()
    queue = [m for m in entry_modules]
    for module in entry_modules:  # a package's submodules all ship and may be imported lazily
        path = module_file(module)
        if path is not None and path.name == "__init__.py":
            for sub in path.parent.rglob("*.py"):
                parts = sub.relative_to(path.parent).with_suffix("").parts
                queue.append(".".join((module, *[p for p in parts if p != "__init__"])))
    while queue:
        module = queue.pop()
        path = module_file(module)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    names = [f"{base}.{node.module}" if node.module else base]
                else:
                    names = [node.module or ""]
                names += [f"{names[0]}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in SOURCES:
                    queue.append(name)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    external.add(top)
    return seen, external


@functools.cache
def owners() -> Mapping[str, list[str]]:
    """Top-level module -> distributions that provide it (slow to compute: once)."""
    return importlib.metadata.packages_distributions()


def distributions(modules: set[str]) -> set[str]:
    found = set()
    for module in modules:
        dists = owners().get(module)
        assert dists, f"no installed distribution provides '{module}'"
        found |= {canonicalize_name(d) for d in dists}
    return found


# fsspec opens s3:// and gs:// through these drivers, found by protocol name at run time: an
# image without them fails on the first bucket URI, not at start-up.
OBJECT_STORE_DRIVERS = {"s3fs", "gcsfs"}


def base_image(dockerfile: Path) -> str:
    args = {}
    for word, rest in instructions(dockerfile):
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value.strip('"')
        if word == "FROM":
            return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0])
    raise AssertionError(f"{dockerfile.name} has no FROM")


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_pip_installs_use_pyproject_versions_word_for_word(name):
    requirements = pip_requirements(DOCKER / name)
    assert requirements, f"{name} installs nothing"
    for requirement in requirements:
        key = canonicalize_name(requirement.name)
        assert key in PINS, (
            f"{name} installs {requirement.name}, not a dependency in pyproject.toml"
        )
        assert requirement.specifier == PINS[key].specifier, (
            f"{name}: {requirement} but pyproject.toml says {PINS[key]}"
        )


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_images_install_what_their_code_imports_and_nothing_forbidden(name):
    entry_modules, forbidden = IMAGES[name]
    imports = third_party_imports(entry_modules)
    assert not imports & forbidden, f"{name}'s code imports {imports & forbidden}"
    installed = {canonicalize_name(r.name) for r in pip_requirements(DOCKER / name)}
    # Ray's images ship Ray and pyarrow (Ray Train's storage and Ray Data need it).
    ray_base = base_image(DOCKER / name).startswith("rayproject/ray:")
    from_base = {"ray", "pyarrow"} if ray_base else set()
    needed = distributions(imports - forbidden) & set(PINS)  # only the project's direct deps
    missing = needed - installed - from_base
    assert not missing, f"{name} does not install {sorted(missing)}, which its code imports"
    assert not {canonicalize_name(f) for f in forbidden} & installed


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_images_that_open_object_storage_install_its_drivers(name):
    """Every image whose code reaches kiln.storage (training data, runs and checkpoints in the Ray
    image; registries in the serving replicas and in the operator's version lookup) installs
    s3fs and gcsfs, at pyproject.toml's ranges, beside Kiln (which goes in with --no-deps)."""
    storage = SOURCES["kiln"] / "storage" / "__init__.py"
    assert storage in kiln_files_reached(IMAGES[name][0]), f"{name} never opens object storage"
    assert set(PINS) >= OBJECT_STORE_DRIVERS, "pyproject.toml must depend on the drivers"
    installed = {canonicalize_name(r.name): r for r in pip_requirements(DOCKER / name)}
    for driver in sorted(OBJECT_STORE_DRIVERS):
        assert driver in installed, f"{name} does not install {driver}"
        assert installed[driver].specifier == PINS[driver].specifier
    # The drivers and fsspec go in in one pip run, so pip picks versions that agree (each
    # driver release pins its own fsspec).
    runs = [rest for word, rest in instructions(DOCKER / name) if word == "RUN"]
    (together,) = [r for r in runs if '"s3fs' in r]
    assert '"gcsfs' in together and '"fsspec' in together


def test_ray_bases_match_the_pinned_ray_and_python():
    python = Version(PYPROJECT["project"]["requires-python"].lstrip(">="))
    for name in ("ray.Dockerfile", "serve.Dockerfile"):
        image = base_image(DOCKER / name)
        match = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py(\d)(\d+)", image)
        assert match, f"{name}: base {image} is not a pinned rayproject/ray tag"
        assert Version(match.group(1)) in PINS["ray"].specifier, f"{name}: {image} vs {PINS['ray']}"
        assert (int(match.group(2)), int(match.group(3))) == (python.major, python.minor)
    operator_base = base_image(DOCKER / "operator.Dockerfile")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", operator_base), operator_base
    # The GPU variant swaps the Ray tag for the same version's -gpu image.
    assert "RAY_TAG=2.60.0-py311-gpu" in (DOCKER / "build.sh").read_text()


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_images_run_as_a_non_root_user(name):
    users = [rest for word, rest in instructions(DOCKER / name) if word == "USER"]
    assert users, f"{name} never sets USER"
    assert users[-1].split(":")[0] not in {"0", "root"}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_commands_the_images_name_exist(name):
    commands = [
        ast.literal_eval(rest)
        for word, rest in instructions(DOCKER / name)
        if word in {"CMD", "ENTRYPOINT"}
    ]
    assert commands, f"{name} names no command"
    scripts = PYPROJECT["project"]["scripts"]
    for command in commands:
        if command[0] == "kiln":
            module, _, function = scripts["kiln"].partition(":")
            path = module_file(module)
            assert path is not None and f"def {function}(" in path.read_text()
        elif command[:2] == ["python", "-m"]:
            assert module_file(command[2]) is not None
            assert (SOURCES[command[2]] / "__main__.py").exists()
        elif command[:2] == ["serve", "run"]:
            # Ray's `serve` CLI, and the import path the RayService's serveConfigV2 names too.
            assert (Path(sys.executable).parent / "serve").exists()
            module, _, function = command[2].partition(":")
            path = module_file(module)
            assert path is not None and f"def {function}(" in path.read_text()
        else:
            pytest.fail(f"{name}: unknown command {command}")


def test_build_script_fails_clearly_without_a_container_engine():
    result = subprocess.run(
        ["bash", str(DOCKER / "build.sh")],
        env={**os.environ, "KILN_CONTAINER_ENGINE": "no-such-engine"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "no container engine found" in result.stderr
    assert "Makefile" and "bash infra/docker/build.sh" in (ROOT / "Makefile").read_text()
