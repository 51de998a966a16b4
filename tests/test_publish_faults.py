"""Publishing that never half-happens (issue 15, items 1-4, 6, 15, 16): a closed standard output, Ctrl-C, a
trickling endpoint, input AWS refuses, keys and URLs too long, and what the command line says, driven through
the command line against a moto server on 127.0.0.1 and small local stand-ins."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import release_layout as layout
from templates_src.release import publish
from tests.conftest import REPO
from tests.test_package import BUCKET, PREFIX, TARGETS, objects, package

# Runs generate.py in a new process with a hook around every upload (TEST_HOOK): "wait-for:<file>" holds each
# upload after the first (the claim) until the file exists; "interrupt-after:<n>" sends this process SIGINT (Ctrl-C)
# when the n-th PutObject has been answered, before the run has recorded it (a Ctrl-C in the middle of a request).
HOOKED = r"""
import os, pathlib, runpy, signal, sys, time
from templates_src.release import publish
hook = os.environ["TEST_HOOK"]
# Ctrl-C as in a terminal: a process started from a background job (as CI may start the suite) inherits SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler of its own.
signal.signal(signal.SIGINT, signal.default_int_handler)
real_put, real_attempt = publish.S3Publisher._put_object, publish.S3Publisher._attempt
done = []
def put(self, *args, **kwargs):
    if hook.startswith("wait-for:") and done:
        while not pathlib.Path(hook.split(":", 1)[1]).exists():
            time.sleep(0.01)
    return real_put(self, *args, **kwargs)
def attempt(self, what, call, *args, **kwargs):
    result = real_attempt(self, what, call, *args, **kwargs)
    if call.__name__ == "put":  # a PutObject request has been answered
        done.append(1)
        if hook.startswith("interrupt-after:") and len(done) == int(hook.split(":", 1)[1]):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal arrives in the main thread meanwhile
    return result
publish.S3Publisher._put_object, publish.S3Publisher._attempt = put, attempt
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def hooked(server, hook: str, *args: str, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | server.env | {"TEST_HOOK": hook}
    argv = [
        sys.executable,
        "-c",
        HOOKED,
        str(REPO / "generate.py"),
        "package",
        "--bucket",
        BUCKET,
        "--endpoint-url",
        server.url,
        "--only",
        TARGETS,
        *args,
    ]
    return subprocess.Popen(argv, env=env, cwd=REPO, text=True, **popen)


def published(server, version: str = "0.1.0") -> bool:
    return layout.manifest_key(PREFIX, version) in objects(server)


# -- 1. a closed standard output ------------------------------------------------------------------------------
def test_a_closed_stdout_does_not_stop_publishing(moto, tmp_path):
    """`package ... | head -1`: before, the run died on the first write after the reader left (exit 1, nothing on
    stderr, the release unpublished).  Now the run finishes publishing, exits 0, and says on stderr that the
    report was cut."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    go = tmp_path / "go"
    proc = hooked(moto, f"wait-for:{go}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # "uploading N object(s), ..." (written before the first upload)
    proc.stdout.close()  # the reader goes away, like head -1
    go.touch()  # now the uploads go on, and every line they print meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert first.startswith("uploading "), err
    assert published(moto)
    assert err.splitlines()[-1] == (
        "warning: standard output was closed by its reader before the end; the run went "
        "on and ended with exit code 0 - run again without the pipe (or with a file) to "
        "see the whole report"
    )


# -- 2. Ctrl-C --------------------------------------------------------------------------------------------------
def test_ctrl_c_exits_130_and_says_what_was_left(moto):
    """Before: `Aborted!`, exit 1, nothing said.  Now: exit 130, the claim and uploaded objects named, and the same
    command finishes the release."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    proc = hooked(moto, "interrupt-after:2", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == generate.EXIT_INTERRUPTED == 130
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert line.startswith(
        f"error: interrupted (Ctrl-C); release 0.1.0 is not published; left in "
        f"s3://{BUCKET}/{PREFIX}/: the claim of release 0.1.0 and 0 uploaded object(s) (and perhaps "
        f"{PREFIX}/"
    ), line
    # the hook stops the run right after the second write (the claim was the first) has landed, before the run
    # could count it: what a Ctrl-C in the middle of a request leaves, and the message says so
    assert "which was being uploaded). Run the same command again to finish it" in line
    assert (
        f"`aws s3 rm s3://{BUCKET}/{PREFIX}/releases/0.1.0/ --recursive --region us-east-1 --endpoint-url "
        f"{moto.url}`" in line
    )
    assert "Traceback" not in err and not published(moto)
    assert layout.claim_key(PREFIX, "0.1.0") in objects(moto)
    again = package(moto, "--only", TARGETS)
    assert again.exit_code == 0, again.output
    assert published(moto)


# -- 3. a request that never completes ---------------------------------------------------------------------------
@pytest.fixture
def trickling_endpoint():
    """A local HTTP server that answers every request one byte of its headers at a time, every 0.2 s, for at most
    30 s: every read gets data in time, so only an overall deadline ends the request."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def trickle(conn):
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)
                answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 1000 + b"\r\n\r\n"
                end = time.monotonic() + 30
                for byte in answer:
                    if stop.is_set() or time.monotonic() > end:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                return

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_a_trickling_endpoint_meets_the_deadline_and_progress_says_what_is_waited_on(
    moto, monkeypatch, trickling_endpoint
):
    """Before: 282 s of silence until killed.  Now every request has a total deadline, and a line says what is
    being waited on while it lasts."""
    monkeypatch.setattr(publish, "REQUEST_DEADLINE", 1.5)
    monkeypatch.setattr(publish, "WAIT_NOTICE", 0.5)
    monkeypatch.setattr(publish, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(publish, "BACKOFF_BASE", 0.0)
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    start = time.monotonic()
    result = CliRunner(env=env).invoke(
        generate.cli,
        ["package", "--bucket", BUCKET, "--endpoint-url", trickling_endpoint, "--only", TARGETS],
        catch_exceptions=False,
    )
    elapsed = time.monotonic() - start
    assert result.exit_code == 3
    assert elapsed < 15  # two attempts of 1.5 s, not the 30 s the endpoint would trickle
    lines = result.output.splitlines()
    assert any(
        line.startswith(f"still checking bucket {BUCKET}: ")
        and line.endswith("s without a complete answer (giving up after 2 s)")
        for line in lines
    ), result.output
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith(
        f"error: no answer from AWS while checking bucket {BUCKET} after 2 attempts (no complete answer within 2 s)"
    )


# -- 4. a failure caused by the input ---------------------------------------------------------------------------
def _refuse_first_upload(monkeypatch, code: str = "InvalidArgument"):
    """S3 answers the first PutObject of a template with 400 ``code`` (what S3 says of a request it cannot take)."""
    from botocore.awsrequest import AWSResponse

    seen = []

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    def before_send(request, **_):
        if not request.url.split("?")[0].endswith(".yaml") or seen:
            return None
        seen.append(request.url)
        return AWSResponse(
            request.url,
            400,
            {},
            Raw(f"<Error><Code>{code}</Code><Message>refused (injected)</Message></Error>".encode()),
        )

    real_client = publish.boto3.Session.client

    def client(self, service, *args, **kwargs):
        c = real_client(self, service, *args, **kwargs)
        if service == "s3":
            c.meta.events.register("before-send.s3.PutObject", before_send)
        return c

    monkeypatch.setattr(publish.boto3.Session, "client", client)
    return seen


def test_input_aws_refuses_is_exit_2_and_releases_the_claim(moto, monkeypatch):
    """Before: exit 3, "a new run continues from there", and the fixed run was refused by the leftover claim.
    Now: exit 2 (no retry can help), the claim is released, and the next run publishes."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    seen = _refuse_first_upload(monkeypatch)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    assert len(seen) == 1  # not retried
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "InvalidArgument (refused (injected)) - the request itself is wrong" in error
    assert (
        error.endswith(
            "this run's claim was released and its 0 uploaded object(s) are kept (content-addressed: a "
            "later run reuses them)"
        )
        or "this run's claim was released" in error
    )
    assert layout.claim_key(PREFIX, "0.1.0") not in objects(moto) and not published(moto)
    monkeypatch.undo()
    again = package(moto, "--only", TARGETS)
    assert again.exit_code == 0, again.output
    assert published(moto)


# -- 6. service limits before anything is written ------------------------------------------------------------------
def test_a_prefix_too_long_for_s3_keys_is_a_prefix_error_before_anything_is_written(moto):
    """Before: a 917-character prefix published keys of 1,025 bytes, or failed lint with 19 findings (exit 1).
    Now: one --prefix line, exit 2, no lint, no bucket created."""
    prefix = "/".join(["p" * 100] * 9) + "/" + "q" * 7  # 917 characters
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    result = CliRunner(env=env).invoke(
        generate.cli,
        [
            "package",
            "--bucket",
            BUCKET,
            "--endpoint-url",
            moto.url,
            "--create-bucket",
            "--prefix",
            prefix,
            "--only",
            TARGETS,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: --prefix: ")
    assert "1,024" in errors[0] or "1024" in errors[0]
    assert not any("linting" in line for line in result.output.splitlines())
    assert moto.client("s3").list_buckets()["Buckets"] == []


# -- 15. the command line ------------------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "generate.py"), *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


@pytest.mark.parametrize(
    "args, named, command",
    [
        (("build", "--nope"), "--nope", "generate.py build"),
        (("frobnicate",), "frobnicate", "generate.py"),
        (("build", "--format", "xml"), "xml", "generate.py build"),
        (("package",), "--bucket", "generate.py package"),
    ],
)
def test_usage_errors_are_one_line(args, named, command):
    """Before: click's four-line usage block.  Now one line naming what was wrong and where help is (the middle
    of the line is click's wording, which this test does not pin)."""
    result = cli(*args)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and named in line and line.endswith(f"(see {command} --help)"), line


@pytest.mark.parametrize("command", [(), ("build",), ("list",), ("lint",), ("package",)])
def test_every_help_lists_the_exit_codes(command):
    result = cli(*command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for code in (
        "0 success",
        "1 lint findings",
        "2 bad input",
        "3 an AWS or network error",
        "4 a defect",
        "130 interrupted",
    ):
        assert code in text, (command, code)


def test_version_names_the_command_and_the_distribution():
    result = cli("--version")
    from templates_src import __version__

    assert result.stdout.strip() == f"generate.py (sagemaker-secure-mlops-templates) {__version__}"


def test_build_help_names_its_options_rightly():
    text = " ".join(cli("build", "--help").stdout.split())
    assert "--output-dir" in text and "--output DIR" not in text
    assert "--format [yaml|json|both]" in text
    described = text.split("--format [yaml|json|both]")[1].split(" --")[0]
    assert "YAML, JSON or both" in described, described  # before: only "[default: yaml]"


# -- 16. what package shows -----------------------------------------------------------------------------------------
def test_package_shows_its_phases_sets_entry_urls_apart_and_gives_complete_commands(moto):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    result = CliRunner(env=env).invoke(
        generate.cli, ["package", "--bucket", BUCKET, "--endpoint-url", moto.url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output[-3000:]
    lines = result.output.splitlines()
    for phase in (
        f"checking bucket s3://{BUCKET} in us-east-1 ...",
        "planning release 0.1.0 (building and packaging the templates) ...",
        "linting 20 packaged template(s) ...",
    ):
        assert phase in lines
    entries = lines.index("entry templates (release 0.1.0: what users deploy; the URLs stay with this release):")
    content = next(i for i, line in enumerate(lines) if line.startswith("content-addressed templates"))
    entry_names = [line.split()[0] for line in lines[entries + 1 : content]]
    assert sorted(entry_names) == sorted(
        ["core-main", "data-science-environment-quickstart", "env-main", "env-iam-setup-stackset-role", "package-cfn"]
    ) or {"core-main", "data-science-environment-quickstart", "env-main", "env-iam-setup-stackset-role"} <= set(
        entry_names
    )
    steps = lines[lines.index("next:") + 1 :]
    commands = [line.strip() for line in steps if line.strip().startswith("aws ")]
    assert commands and not any("..." in c for c in commands)
    for command in commands:
        words = shlex.split(command)  # each one is valid shell: it parses
        assert words[0] == "aws"
    text = "\n".join(steps)
    # The three deployment options: the quickstart, core then env-main as a stack, core then the product.
    assert "data-science-environment-quickstart" in text or any("quickstart" in c for c in commands)
    assert any("create-stack" in c and "--role-arn" in c for c in commands)  # env-main run as the launch role
    assert any("provision-product" in c for c in commands)


# -- 9. values pinned to a region or partition other than the release's ---------------------------------------
@pytest.mark.parametrize(
    "pinned, line",
    [
        (
            {"logs_kms_key_arn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
            "error: logs_kms_key_arn: the pinned key is in eu-west-1 (aws), the release in us-east-1 (aws)",
        ),
        (
            {"logs_kms_key_arn": "arn:aws-cn:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
            "error: logs_kms_key_arn: the pinned key is in us-east-1 (aws-cn), the release in us-east-1 (aws)",
        ),
        (
            {"permissions_boundary": "arn:aws-us-gov:iam::111122223333:policy/Boundary"},
            "error: permissions_boundary: 'arn:aws-us-gov:iam::111122223333:policy/Boundary' is in partition "
            "aws-us-gov",
        ),
    ],
)
def test_a_value_pinned_to_another_region_or_partition_is_refused_before_anything_is_written(
    moto, tmp_path, pinned, line
):
    """Before: published without a word, and every stack of the release failed at deployment (Lambda reads its
    code from the release's region; CloudWatch Logs takes keys of its own region)."""
    from tests.conftest import PINNED

    moto.client("s3").create_bucket(Bucket=BUCKET)
    result = package(moto, "--region", "us-east-1", "--only", TARGETS, config={**PINNED, **pinned}, tmp=tmp_path)
    assert result.exit_code == 2, result.output
    (error,) = [text for text in result.output.splitlines() if text.startswith("error: ")]
    assert error.startswith(line), error
    assert objects(moto) == {}


def test_a_region_of_a_newer_partition_is_a_region(moto):
    """Before: `--region eusc-de-east-1` was refused by package although botocore and cfn-lint know it."""
    assert generate.region_partition("eusc-de-east-1") == "aws-eusc"
    assert generate.region_partition("eu-west-1") == "aws" and generate.region_partition("moon") is None
    moto.client("s3", region_name="eusc-de-east-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eusc-de-east-1"}
    )
    result = package(moto, "--region", "eusc-de-east-1", "--only", TARGETS)
    assert result.exit_code == 0, result.output
    assert published(moto)
