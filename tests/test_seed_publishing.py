"""Seed code is published exactly as meant (issue 15, items 11-14): what a release publishes is readable by every
account that deploys it and can never be changed, so the seed-code folders are checked before anything is
written, and only what the templates need is published."""

from __future__ import annotations

import io
import os
import pathlib
import tracemalloc
import zipfile

import pytest

from templates_src import functions
from templates_src.release import plan as release_plan
from templates_src.release.model import PlanError, Target
from tests.test_package import BUCKET, manifest, package, read

TARGET = Target("mlops-releases", "sagemaker-mlops", "us-east-1")
PROJECTS = "project-model-build-train,project-model-deploy"


@pytest.fixture
def seed(tmp_path) -> pathlib.Path:
    root = tmp_path / "seed"
    for name in ("model-build-train", "model-deploy"):
        (root / name).mkdir(parents=True)
        (root / name / "buildspec.yml").write_text("version: 0.2\n")
    return root


def _bucket_exists(server) -> bool:
    return BUCKET in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]


def _refused(server, seed, *words):
    result = package(server, "--create-bucket", "--only", PROJECTS, "--seed-code-dir", str(seed))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), result.output
    assert not _bucket_exists(server), "nothing is written, not even the bucket"
    return errors[0]


def test_a_link_to_a_file_outside_the_folder_is_refused(moto, seed, tmp_path):
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = not-for-the-release\n")
    os.symlink(secret, seed / "model-build-train" / "settings.ini")
    _refused(moto, seed, "settings.ini", "outside", str(secret))


def test_a_link_to_a_folder_is_refused_inside_or_outside(moto, seed, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", seed / "model-deploy" / "shared")
    _refused(moto, seed, "shared", "link to a folder")
    (seed / "model-deploy" / "shared").unlink()
    (seed / "model-deploy" / "lib").mkdir()
    os.symlink(seed / "model-deploy" / "lib", seed / "model-deploy" / "lib2")
    _refused(moto, seed, "lib2", "link to a folder")


def test_a_link_to_a_file_inside_is_published_as_a_copy(moto, seed):
    os.symlink("buildspec.yml", seed / "model-build-train" / "buildspec-copy.yml")
    result = package(moto, "--create-bucket", "--only", PROJECTS, "--seed-code-dir", str(seed))
    assert result.exit_code == 0, result.output
    zipped = zipfile.ZipFile(io.BytesIO(read(moto, manifest(moto)["seed_code"]["model-build-train"]["key"])))
    assert zipped.read("buildspec-copy.yml") == b"version: 0.2\n"


def test_a_file_name_that_is_not_utf8_is_bad_input(moto, seed):
    name = os.fsdecode(b"notes-\xff.txt")
    (seed / "model-deploy" / name).write_text("x")
    _refused(moto, seed, "not UTF-8")


def test_an_unreadable_file_or_folder_is_refused(moto, seed, monkeypatch):
    """(Permissions do not stop root, which the tests may run as: the refusal of the operating system is
    simulated where the code asks it.)"""
    target = seed / "model-build-train" / "private.key"
    target.write_text("x")
    real_open = pathlib.Path.open

    def denying_open(self, *args, **kwargs):
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denying_open)
    _refused(moto, seed, "cannot read", "private.key", "Permission denied")
    monkeypatch.setattr(pathlib.Path, "open", real_open)
    target.unlink()
    hidden = seed / "model-build-train" / "data"
    hidden.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode, **kw: False if pathlib.Path(path) == hidden else real_access(path, mode, **kw)
    )
    _refused(moto, seed, "cannot read", "data")


def test_only_the_seed_code_the_templates_refer_to_is_published(moto, seed):
    (seed / "scratch notes+ideas").mkdir()
    (seed / "scratch notes+ideas" / "todo.txt").write_text("private\n")
    result = package(moto, "--create-bucket", "--only", "project-model-deploy", "--seed-code-dir", str(seed))
    assert result.exit_code == 0, result.output
    assert sorted(manifest(moto)["seed_code"]) == ["model-deploy"]  # --only: what the selection needs
    keys = [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert not [k for k in keys if "scratch" in k or "model-build-train" in k.split("/seed-code/")[-1]]


def test_large_seed_files_are_streamed_not_held_in_memory_and_warned_about(seed, tmp_path):
    big = seed / "model-build-train" / "data.bin"
    with big.open("wb") as out:
        chunk = os.urandom(1024 * 1024)  # incompressible: the zip is as large as the file
        for _ in range(24):
            out.write(chunk)
    warnings: list[str] = []
    tracemalloc.start()
    artifacts = release_plan.seed_code_artifacts(seed, TARGET, {}, ["model-build-train"], tmp_path, warnings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{peak} bytes held while zipping a 24 MiB file"
    (artifact,) = artifacts
    assert artifact.file is not None and artifact.size > 24 * 1024 * 1024
    assert len(warnings) == 1 and "data.bin" in warnings[0] and "CodeCommit" in warnings[0]
    # Streamed or in memory, the same bytes (so the content-addressed key does not depend on how).
    in_memory = release_plan.seed_code_artifacts(seed, TARGET, {}, ["model-build-train"])
    assert in_memory[0].key == artifact.key and in_memory[0].body == artifact.file.read_bytes()


def test_streamed_zip_equals_the_in_memory_zip_for_small_chunks(tmp_path, monkeypatch):
    source = tmp_path / "a.txt"
    source.write_bytes(b"line\n" * 10000)
    monkeypatch.setattr(functions, "CHUNK", 777)
    streamed = io.BytesIO()
    functions.write_deterministic_zip({"a.txt": source, "b.txt": b"x"}, streamed)
    assert streamed.getvalue() == functions.deterministic_zip({"a.txt": source.read_bytes(), "b.txt": b"x"})


def test_folder_names_that_cannot_be_keys_are_refused(seed):
    with pytest.raises(PlanError, match="folder name"):
        release_plan.seed_code_artifacts(seed, TARGET, {}, ["bad\nname"])
