"""compare_served on reports built by hand: mismatches come before unknown files, the JSON keeps at most
20 problems, and a listed file of another origin left unfetched is the caller's error, never green."""

from verifier.reasons import Reason, Result
from verifier.served import FetchedFile, ServedReport, compare_served
from verifier.statement import ServedFile

SITE = "https://city.example"


def fetched(path, digest, sha256=None):
    return FetchedFile(path, SITE + path, "script", sha256 or digest, None, SITE + "/")


def report(*files):
    return ServedReport(SITE, (SITE + "/",), tuple(files), (), 0.1)


def test_a_mismatch_is_reported_before_an_unknown_file_found_earlier():
    verdict = compare_served(
        report(fetched("/new.js", "11" * 32), fetched("/app.js", "22" * 32)),
        [ServedFile("/app.js", "33" * 32)],
        (),
        inline_must_be_declared=False,
    )
    assert verdict.reason == Reason.SERVED_FILE_MISMATCH
    assert [p.reason for p in verdict.problems] == [Reason.SERVED_FILE_MISMATCH, Reason.UNKNOWN_SERVED_FILE]
    assert verdict.message.endswith("(1 more problem(s)).")


def test_the_json_keeps_twenty_problems():
    files = [fetched(f"/f{i}.js", f"{i:064x}") for i in range(30)]
    data = compare_served(report(*files), [], (), inline_must_be_declared=False).to_json()
    assert len(data["problems"]) == 20
    assert set(data) == {
        "result",
        "reason",
        "message",
        "checked",
        "matched",
        "inline_scripts",
        "inline_declared",
        "problems",
    }
    assert data["problems"][0] == {
        "reason": "unknown_served_file",
        "path": "/f0.js",
        "expected": None,
        "found": f"sha256:{0:064x}",
    }


def test_a_listed_file_of_another_origin_left_unfetched_is_a_checker_error():
    cdn = FetchedFile("https://cdn.example/lib.js", "https://cdn.example/lib.js", "script", None, None, SITE)
    verdict = compare_served(
        report(cdn), [ServedFile("https://cdn.example/lib.js", "44" * 32)], (), inline_must_be_declared=False
    )
    assert verdict.result == Result.UNVERIFIABLE and verdict.reason == Reason.CHECKER_ERROR
