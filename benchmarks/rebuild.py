"""What ``vitrina-verify rebuild`` costs around the build command itself, on a ~100 MB output.

The issue's claim: a rebuild should be dominated by the build and the hash of its output. This
benchmark makes a real git repository on disk whose recorded build command (``sh build.sh``) writes
``--megabytes`` of deterministic data (``openssl enc -aes-128-ctr`` of zeros under a fixed key, so
incompressible like a real package) into ``--files`` files and packs them with a few MB of committed
sources into ``dist/app.tar`` the reproducible way (``tar --sort=name --mtime=@$SOURCE_DATE_EPOCH``,
owners zeroed; not compressed, so the build is mostly I/O). CI builds it once (``ci_build`` of
``tests.helpers.reproducible``), a release of it signed with ``BuildInstructions`` is registered, with a
rebuilder, in a throw-away portal (``_portal.setup_portal``, SQLite) that a Django WSGI server serves on
127.0.0.1 in a thread. So the whole rebuild is timed as a rebuilder runs it: ``python -m verifier
rebuild --publish`` as a separate process, talking HTTP to the portal (find the release, download and
verify its proof bundle, clone, build, hash, sign, post).

Then, each ``--runs`` times (medians are reported):

- **whole**: the subprocess above, wall time;
- **build alone**: the same command in a fresh clone (cloned outside the timing) with exactly the
  environment ``rebuild`` gives it (``rebuild.build_environment``), ``bash -c`` under umask 022, run
  directly with ``subprocess`` (no ``unshare``);
- **sha256sum** of the build's output;
- **the steps of rebuild**, each timed in this process by calling the functions ``run_rebuild`` calls, in
  its order (the code allows it: they are module-level functions): Python start-up and imports (``python
  -m verifier rebuild --help``, a subprocess), finding the rebuilder's name, finding the release and
  fetching its bundle, verifying the bundle, the checkout (``RepoMirror.check_out``: mirror fetch and
  local clone), ``normalize_modes``, the ``unshare -rn`` probe, the build under ``run_build`` (isolated
  when allowed), hashing the output (``output_digest``, Python's hashlib), signing and posting
  (``sign_rebuild`` + ``publish_rebuild``), and removing the scratch directory. The **remainder** is whole
  minus build alone minus sha256sum.

    .venv/bin/python benchmarks/rebuild.py [--megabytes 100] [--files 100] [--source-megabytes 5] [--runs 3]
"""

import contextlib
import datetime
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _portal import ROOT, benchmark_arguments, report, setup_portal

PROJECT, VERSION = "rebuilt", "1.0.0"
OUTPUT, ARTIFACT = "dist/app.tar", "app.tar"
# Deterministic, incompressible bytes: AES-CTR of zeros under a fixed key and IV, file by file.
BUILD_SCRIPT = """#!/bin/sh
set -eu
rm -rf gen dist
mkdir -p gen dist
i=0
while [ "$i" -lt "$FILES" ]; do
    openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv "$(printf '%032x' "$i")" \\
        -in /dev/zero 2>/dev/null | head -c "$BYTES" > "gen/part-$(printf '%04d' "$i").bin"
    i=$((i + 1))
done
tar --sort=name --mtime=@"$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -cf dist/app.tar gen src
"""


def make_source(path, *, megabytes, files, source_megabytes):
    """A git repository at ``path``: ``build.sh`` and ``source_megabytes`` of committed sources (text,
    100 files); its build writes ``megabytes`` in ``files`` files. Returns the reproducible ``Project``."""
    from tests.helpers.gitserver import FIRST_DATE, git
    from tests.helpers.reproducible import Project

    (path / "src").mkdir(parents=True)
    line = "".join(chr(32 + (n * 7) % 95) for n in range(99)) + "\n"
    per_file = max(1, source_megabytes * 1024 * 1024 // 100 // len(line))
    for n in range(100):
        (path / "src" / f"module_{n:03d}.txt").write_text(f"{n}\n" + line * per_file)
    (path / "build.sh").write_text(BUILD_SCRIPT)
    (path / ".gitignore").write_text("dist/\ngen/\n")
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "--all")
    commit_time = FIRST_DATE + 3600
    git(path, "commit", "--quiet", "-m", "A large build to rebuild", date=commit_time)
    command = f"FILES={files} BYTES={megabytes * 1024 * 1024 // files} sh build.sh"
    return Project(
        repo=path,
        commit=git(path, "rev-parse", "HEAD"),
        commit_time=commit_time,
        build_command=command,
        output=OUTPUT,
        artifact_name=ARTIFACT,
    )


def register_release(source, artifact, work):
    """The project, a release of ``artifact`` signed with its build instructions, and a rebuilder;
    returns the rebuilder's (key file, token)."""
    from portal.registry import services
    from tests.portal import factories
    from verifier import dsse, statement
    from verifier.digest import sha256_file
    from verifier.keys import generate_private_key

    project = factories.make_project(slug=PROJECT, repo_url=source.repo_url)
    private_key, _ = factories.make_key(project)
    build = statement.BuildInstructions(source.build_command, {}, {ARTIFACT: OUTPUT})
    doc = statement.build_statement(
        artifact_name=ARTIFACT,
        artifact_digest=sha256_file(artifact),
        repo_uri=source.repo_url,
        commit=source.commit,
        ci_build_url="https://ci.example.org/rebuilt/runs/1",
        build=build,
    )
    envelope = dsse.sign_envelope(statement.statement_to_payload(doc), private_key)
    services.register_release(project, envelope, version=VERSION)
    rebuilder_key = generate_private_key("ed25519")
    key_file = work / "rebuilder.pem"
    key_file.write_text(rebuilder_key.private_pem())
    _, token = services.add_rebuilder("Benchmark rebuilder", rebuilder_key.public_key.pem)
    return key_file, token


@contextlib.contextmanager
def serving_portal():
    """The portal's WSGI application on 127.0.0.1:<free port> in a thread; yields its base URL."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):
            """Keep the benchmark's output to its figures."""

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def run(argv, **kwargs):
    """Run ``argv``, failing loudly with its output if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(
            f"{argv[:4]} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def whole_rebuild(portal, key_file, token, log_key):
    """``python -m verifier rebuild --publish`` as a rebuilder runs it; its wall time."""
    argv = [
        sys.executable, "-m", "verifier", "rebuild", "--portal", portal, "--project", PROJECT,
        "--version", VERSION, "--key", str(key_file), "--publish", "--allow-private",
        "--log-key", log_key, "--no-state",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VITRINA_REBUILDER_TOKEN": token}
    seconds, result = timed(run, argv, cwd=ROOT, env=env, timeout=3600)
    assert "RESULT: reproduced." in result.stdout and "published: rebuild" in result.stdout, result.stdout
    return seconds


def build_alone(source, work):
    """The build command, run directly in a fresh clone with rebuild's clean environment: the seconds of
    the plain ``git clone`` and ``checkout`` (for comparison with rebuild's), of the build, and the output."""
    from verifier.rebuild import build_environment
    from verifier.statement import BuildInstructions

    checkout, home, tmp = work / "checkout", work / "home", work / "tmp"
    started = time.perf_counter()
    run(["git", "clone", "--quiet", str(source.repo), str(checkout)], umask=0o022)
    run(["git", "-C", str(checkout), "checkout", "--quiet", "--detach", source.commit])
    cloned = time.perf_counter() - started
    home.mkdir()
    tmp.mkdir()
    build = BuildInstructions(source.build_command, {}, {ARTIFACT: OUTPUT})
    environment = build_environment(build, source.commit_time, home, tmp)
    seconds, _ = timed(run, ["bash", "-c", source.build_command], cwd=checkout, env=environment, umask=0o022)
    return cloned, seconds, checkout / OUTPUT


def rebuild_steps(portal, key_file, token, log_key, work):
    """Each step of ``run_rebuild``, in its order, by calling the functions it calls; seconds by step."""
    from verifier import observe, rebuild
    from verifier.attest import read_private_key
    from verifier.rebuilds import Rebuilt
    from verifier.repo import RepoMirror

    steps = {}
    steps["python start-up and imports"], _ = timed(
        run, [sys.executable, "-m", "verifier", "rebuild", "--help"], cwd=ROOT
    )
    quiet = io.StringIO()  # the functions print their report lines, as the command does
    with contextlib.redirect_stdout(quiet):
        private_key = read_private_key(str(key_file))
        steps["find own rebuilder name (HTTP)"], name = timed(
            observe.party_name, portal, private_key, "rebuilder"
        )
        started = time.perf_counter()
        release_id = rebuild.find_release(portal, PROJECT, VERSION)
        bundle = rebuild.fetch_release_bundle(portal, PROJECT, VERSION, release_id)
        steps["find release, fetch bundle (HTTP)"] = time.perf_counter() - started
        steps["verify bundle"], _ = timed(observe.check_bundle, bundle, log_key, None)
        statement = observe.release_statement(bundle)
        build = rebuild.build_instructions(statement)
        scratch = Path(tempfile.mkdtemp(prefix="vitrina-rebuild-", dir=work))
        checkout, home, tmp = scratch / "source", scratch / "home", scratch / "tmp"
        home.mkdir()
        tmp.mkdir()
        mirrors = RepoMirror(scratch / "mirror", timeout=600, min_fetch_interval=0, allow_private=True)
        record = bundle.record
        steps["checkout (mirror fetch, clone)"], epoch = timed(
            mirrors.check_out, bundle.project.repo_url, record["source_commit"], checkout
        )
        steps["normalize modes"], _ = timed(rebuild.normalize_modes, checkout)
        steps["unshare -rn probe"], isolation = timed(rebuild.network_isolation)
        environment = rebuild.build_environment(build, epoch, home, tmp)
        steps["build (run_build" + (", unshare -rn)" if isolation else ")")], result = timed(
            rebuild.run_build, build, checkout, environment, scratch / "build.log", timeout=3600,
            isolation=isolation,
        )  # fmt: skip
        assert result.returncode == 0, rebuild.log_tail(scratch / "build.log")
        subject = statement.subjects[0]
        steps["hash output (hashlib)"], digest = timed(
            rebuild.output_digest, checkout, build.outputs[subject.name], subject.name
        )
        assert digest == f"sha256:{subject.sha256}", digest
        now = time.time()
        rebuilt = Rebuilt(
            subjects=(subject,),
            portal=portal,
            project=PROJECT,
            version=VERSION,
            release_id=release_id,
            artifact_digest=record["artifact_digest"],
            repository=record["repo_url"],
            commit=record["source_commit"],
            build=build,
            rebuilder=name,
            started_on=datetime.datetime.fromtimestamp(now - 1, datetime.UTC),
            finished_on=datetime.datetime.fromtimestamp(now, datetime.UTC),
            invocation_id=os.urandom(16).hex(),
        )
        steps["sign and post (HTTP)"], _ = timed(rebuild.publish_rebuild, portal, token, rebuilt, private_key)
        steps["remove scratch directory"], _ = timed(shutil.rmtree, scratch)
    return steps


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--megabytes", type=int, default=100, help="size of the build's output (MiB)")
    parser.add_argument("--files", type=int, default=100, help="files the build generates and packs")
    parser.add_argument("--source-megabytes", type=int, default=5, help="committed sources (MiB)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for tool in ("git", "openssl", "tar", "sha256sum"):
        if shutil.which(tool) is None:
            raise SystemExit(f"rebuild benchmark: {tool} is not installed")

    work = setup_portal("vitrina-bench-rebuild-", args.database_url)
    from portal.transparency.signing import verifier_key
    from tests.helpers.reproducible import ci_build

    source = make_source(
        work / "repo", megabytes=args.megabytes, files=args.files, source_megabytes=args.source_megabytes
    )
    artifact = ci_build(source, work / "ci")
    key_file, token = register_release(source, artifact, work)
    log_key = verifier_key()

    times = {"whole": [], "build alone": [], "sha256sum": [], "git clone": []}
    steps = {}
    load_before = os.getloadavg()
    with serving_portal() as portal:
        for n in range(args.runs):
            times["whole"].append(whole_rebuild(portal, key_file, token, log_key))
            alone = work / f"alone-{n}"
            cloned, seconds, output = build_alone(source, alone)
            times["build alone"].append(seconds)
            times["git clone"].append(cloned)
            seconds, _ = timed(run, ["sha256sum", str(output)])
            times["sha256sum"].append(seconds)
            shutil.rmtree(alone)
            for name, seconds in rebuild_steps(portal, key_file, token, log_key, work).items():
                steps.setdefault(name, []).append(seconds)
    load_after = os.getloadavg()

    median = {name: statistics.median(values) for name, values in times.items()}
    remainder = median["whole"] - median["build alone"] - median["sha256sum"]
    size = artifact.stat().st_size
    sourced = sum(f.stat().st_size for f in (work / "repo" / "src").iterdir())
    lines = [
        f"rebuild overhead: output {size / 2**20:.1f} MiB ({args.files} generated files in an uncompressed "
        f"tar), committed sources {sourced / 2**20:.1f} MiB; medians of {args.runs} runs",
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after",
        "",
        f"  whole rebuild --publish (subprocess)   {median['whole']:7.2f} s",
        f"  build alone (same command, same env)   {median['build alone']:7.2f} s",
        f"  sha256sum of the output                {median['sha256sum']:7.2f} s",
        f"  remainder (whole - build - sha256sum)  {remainder:7.2f} s "
        f"({100 * remainder / median['whole']:.0f}% of the whole)",
        f"  for comparison: plain git clone + checkout of the repository {median['git clone']:.2f} s",
        "",
        "  the steps of rebuild, timed in-process (median):",
    ]
    total = 0.0
    for name, values in steps.items():
        value = statistics.median(values)
        total += value
        lines.append(f"    {name:<38} {value:7.2f} s")
    lines.append(f"    {'sum of the steps':<38} {total:7.2f} s")
    lines.append("")
    lines.append(
        "  each run: "
        + "; ".join(f"{name} " + " ".join(f"{v:.2f}" for v in values) for name, values in times.items())
    )
    report(lines, "rebuild")


if __name__ == "__main__":
    main()
