"""Finding the version a finished TrainingJob registered, in a real (local) registry store."""

from __future__ import annotations

from kiln_operator.versions import names_run, registered_version


def test_finds_the_version_exported_from_the_run(tmp_path, registered):
    registry = str(tmp_path / "registry")
    registered(registry, "jena", "run-a")
    wanted = registered(registry, "jena", "run-b")
    registered(registry, "jena", "run-c")
    found = registered_version(registry, "jena", "run-b")
    assert (found.version, found.message) == (wanted, f"registered as jena:{wanted}")


def test_says_why_when_no_version_names_the_run(tmp_path, registered):
    registry = str(tmp_path / "registry")
    registered(registry, "jena", "run-a")
    found = registered_version(registry, "jena", "run-z")
    assert found.version is None
    assert "names run 'run-z'" in found.message and "[1]" in found.message


def test_an_empty_or_unreadable_registry_is_reported_not_raised(tmp_path):
    assert registered_version(str(tmp_path / "nothing"), "jena", "r").version is None
    broken = registered_version("nosuchscheme://x", "jena", "r")
    assert broken.version is None and "could not read registry" in broken.message


def test_source_run_may_be_the_id_or_a_path_through_the_run_directory():
    assert names_run("run-b", "run-b")
    assert names_run("/tmp/kiln-runs/run-b/", "run-b")
    assert not names_run("/tmp/kiln-runs/run-bb", "run-b")
    assert not names_run("", "run-b")
    # A run under a runs URI on object storage (what the rendered RayJob exports from).
    assert names_run("s3://kiln-runs/team/run-b", "run-b")
    assert not names_run("gs://kiln-runs/team/run-bb", "run-b")
