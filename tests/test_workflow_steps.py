"""The shell steps of the gate and record jobs, executed the way a GitHub runner executes them
(``bash --noprofile --norc -eo pipefail``, ``${{ }}`` expressions resolved into ``env:``,
``$GITHUB_OUTPUT`` / ``$GITHUB_STEP_SUMMARY`` files, ``if:`` conditions), first with a scripted
``promptctl`` for every exit code of the gate, then with the real promptctl on a real repository.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.report.comparisons import a_pull_request
from tests.report.diffs import diff_data, thousand_cases
from tests.review.common import KEY, commit, config, new_repo
from tests.review.test_diff_groups import well_formed
from tests.test_workflow import load, workflow_texts

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Job:
    """A minimal runner for one job's ``run:`` steps (``uses:`` steps are the caller's business)."""

    wf: dict[str, Any]
    name: str
    cwd: Path
    context: dict[str, str]  # expression -> value, e.g. "secrets.OPENAI_API_KEY"
    base_env: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: str = ""
    log: list[tuple[str, int, str]] = field(default_factory=list)  # (step, exit code, output)
    failed: bool = False

    def value(self, text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            expr = m.group(1)
            step_out = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", expr)
            if step_out:
                return self.outputs.get(step_out.group(1), {}).get(step_out.group(2), "")
            if expr not in self.context:
                raise KeyError(f"the test runner knows no value for ${{{{ {expr} }}}}")
            return self.context[expr]

        return EXPR.sub(sub, text)

    def should_run(self, step: dict[str, Any]) -> bool:
        cond = step.get("if")
        if cond is None:
            return not self.failed
        if cond == "always()":
            return True
        if cond == "${{ !cancelled() }}":
            return True
        raise AssertionError(f"the test runner does not evaluate if: {cond}")

    def run(self, skip: tuple[str, ...] = ()) -> None:
        job = self.wf["jobs"][self.name]
        for step in job["steps"]:
            if "run" not in step or step.get("name") in skip or not self.should_run(step):
                continue
            env = {**self.base_env}
            for scope in (self.wf.get("env", {}), job.get("env", {}), step.get("env", {})):
                env.update({k: self.value(str(v)) for k, v in scope.items()})
            out_file = self.cwd.parent / f"output-{len(self.log)}"
            summary_file = self.cwd.parent / f"summary-{len(self.log)}"
            out_file.write_text("")
            summary_file.write_text("")
            env.update(GITHUB_OUTPUT=str(out_file), GITHUB_STEP_SUMMARY=str(summary_file))
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            self.log.append((step.get("name", ""), proc.returncode, proc.stdout + proc.stderr))
            self.summary += summary_file.read_text()
            if "id" in step:
                self.outputs[step["id"]] = parse_outputs(out_file.read_text())
            if proc.returncode != 0:
                self.failed = True

    def exit_of(self, step: str) -> int:
        return next(code for name, code, _ in self.log if name.startswith(step))

    def output_of(self, step: str) -> str:
        return next(out for name, _, out in self.log if name.startswith(step))


def parse_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` syntax: ``key=value`` lines and ``key<<DELIM`` … ``DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delim:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"unterminated output {key}")
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


FAKE_PROMPTCTL = r"""#!/bin/bash
# A scripted promptctl: logs each call with the secrets it could see, acts per FAKE_* variables;
# `report` is the real one (it only reads what the scripted compare and diff wrote).
echo "$1 $2 key=${OPENAI_API_KEY:-} token=${GITHUB_TOKEN:-} git=${GIT_CONFIG_KEY_0:-}" >> "$FAKE_LOG"
out=""
prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
case "$1" in
  records) exit "${FAKE_RECORDS_CODE:-0}" ;;
  compare)
    [ -n "${FAKE_COMPARE_REPORT:-}" ] && cp "$FAKE_COMPARE_REPORT" "$out"
    echo "gate: exit ${FAKE_COMPARE_CODE}" >&2
    exit "$FAKE_COMPARE_CODE" ;;
  diff) cp "$FAKE_DIFF_REPORT" "$out" ;;
  report) exec "$REAL_PROMPTCTL" "$@" ;;
  test) exit "${FAKE_TEST_CODE:-0}" ;;
esac
"""
REAL_PROMPTCTL = str(Path(sys.executable).parent / "promptctl")
RUNNER_ENV = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
RUN_URL = "https://github.com/o/r/actions/runs/7"

CONTEXT = {
    "github.event.pull_request.base.sha": "b" * 40,
    "secrets.OPENAI_API_KEY": "sk-the-secret",
    "github.token": "ghs_the_token",
}


@pytest.fixture(params=sorted(workflow_texts()))
def wf(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(workflow_texts()[request.param])


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "promptctl"
    exe.write_text(FAKE_PROMPTCTL)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    work = tmp_path / "work"
    work.mkdir()
    reports = {
        "compare.json": a_pull_request(),
        "diff.json": diff_data(2, 1),
        "big-diff.json": thousand_cases(),
    }
    for name, data in reports.items():
        (tmp_path / name).write_text(json.dumps(data), "utf-8")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_DIFF_REPORT": str(tmp_path / "diff.json"),
        "REAL_PROMPTCTL": REAL_PROMPTCTL,
        **RUNNER_ENV,
    }
    yield work, env


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_LOG"])
    return log.read_text().splitlines() if log.exists() else []


VERDICT = {
    0: "**promptctl gate: passed**",
    1: "**promptctl gate: failed**: quality drop",
    2: "**promptctl gate: invalid input** (exit 2)",
    3: "**promptctl gate: cannot evaluate** (exit 3)",
}


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_gate_job_reports_in_every_case_and_fails_unless_passed(
    wf: dict[str, Any], fake: tuple[Path, dict[str, str]], code: int
) -> None:
    work, env = fake
    report = str(work.parent / "compare.json") if code in (0, 1) else ""
    job = Job(
        wf, "gate", work, CONTEXT, {**env, "FAKE_COMPARE_CODE": str(code), "FAKE_COMPARE_REPORT": report}
    )
    job.run(skip=("Install promptctl",))
    # the compare step itself succeeds: the verdict step, last, decides the job
    assert job.exit_of("Compare") == 0
    assert job.outputs["gate"]["code"] == str(code)
    assert job.exit_of("Verdict") == (0 if code == 0 else 1)
    assert job.failed is (code != 0)
    verdict_line = {0: "promptctl gate: passed", 1: "::error title=promptctl gate::quality drop"}
    if code in verdict_line:
        assert verdict_line[code] in job.output_of("Verdict")
    # the report exists whatever the verdict: summary, and the output the comment job posts
    posted = job.outputs["report"]["report"]
    assert posted.startswith(VERDICT[code])
    assert job.summary.startswith(VERDICT[code])
    assert "### promptctl diff — `base` → `head`" in posted
    assert f"gate: exit {code}" in posted  # compare's own messages, e.g. the located errors of exit 2
    assert ("### ❌ promptctl compare — `base` → `head`" in posted) is bool(report)
    assert posted.rstrip("\n") == job.summary.rstrip("\n")  # small: the comment is the whole report


def test_gate_job_when_promptctl_never_ran(wf: dict[str, Any], fake: tuple[Path, dict[str, str]]) -> None:
    work, env = fake
    env["PATH"] = "/usr/bin:/bin"  # e.g. the install step failed
    job = Job(wf, "gate", work, CONTEXT, env)
    job.failed = True  # as after a failed install
    job.run(skip=("Install promptctl",))
    assert job.exit_of("Verdict") == 1
    assert "the gate did not run (exit none)" in job.output_of("Verdict")
    said = "**promptctl could not write the report** (gate exit none): see the job log."
    assert job.outputs["report"]["report"] == said and job.summary == said + "\n"


def test_a_large_report_fits_the_comment_and_links_the_summary(
    wf: dict[str, Any], fake: tuple[Path, dict[str, str]]
) -> None:
    """1,000 affected cases and a failed gate: the comment stays under GitHub's limit, whole blocks,
    says what it left out and links the job summary, which holds more."""
    work, env = fake
    env.update(
        FAKE_COMPARE_CODE="1",
        FAKE_COMPARE_REPORT=str(work.parent / "compare.json"),
        FAKE_DIFF_REPORT=str(work.parent / "big-diff.json"),
    )
    job = Job(wf, "gate", work, CONTEXT, env)
    job.run(skip=("Install promptctl",))
    assert job.exit_of("Report") == 0 and job.exit_of("Verdict") == 1
    posted = job.outputs["report"]["report"]
    assert posted.startswith(VERDICT[1]) and len(posted.encode()) <= 60_000
    well_formed(posted)
    assert "**Left out to keep this report under 60,000 bytes**, in this order: the case lists of" in posted
    assert posted.endswith(f"The full report is in the [job summary]({RUN_URL}).")
    assert len(job.summary.encode()) > 150_000 and "Left out" not in job.summary
    well_formed(job.summary)


def test_secrets_and_token_seen_only_where_needed(
    wf: dict[str, Any], fake: tuple[Path, dict[str, str]]
) -> None:
    work, env = fake
    Job(wf, "gate", work, CONTEXT, {**env, "FAKE_COMPARE_CODE": "0"}).run(skip=("Install promptctl",))
    Job(wf, "record", work, CONTEXT, env).run(skip=("Install promptctl",))
    extraheader = "git=http.https://github.com/.extraheader"
    assert calls(env) == [
        f"records pull key= token=ghs_the_token {extraheader}",
        "compare --gate key=sk-the-secret token= git=",
        "diff b" + "b" * 39 + " key= token= git=",
        "report --gate-exit key= token= git=",
        "report --gate-exit key= token= git=",
        "compare --gate key= token= git=",  # the HTML report: --offline, no key
        "test  key=sk-the-secret token= git=",
        "show --format key= token= git=",
        f"records pull key= token=ghs_the_token {extraheader}",
        f"records push key= token=ghs_the_token {extraheader}",
    ]


def test_token_is_masked_and_passed_as_an_auth_header(
    wf: dict[str, Any], fake: tuple[Path, dict[str, str]]
) -> None:
    work, env = fake
    exe = Path(env["PATH"].split(":")[0]) / "promptctl"
    exe.write_text('#!/bin/bash\n[ "$1" = records ] && echo "$GIT_CONFIG_VALUE_0" >> "$FAKE_LOG"\nexit 0\n')
    job = Job(wf, "gate", work, CONTEXT, {**env, "FAKE_COMPARE_CODE": "0"})
    job.run(skip=("Install promptctl",))
    header = calls(env)[0]
    assert header == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:ghs_the_token").decode()
    assert f"::add-mask::{header.split()[-1]}" in job.output_of("Fetch")


def test_records_pull_failure_is_a_warning(wf: dict[str, Any], fake: tuple[Path, dict[str, str]]) -> None:
    work, env = fake
    job = Job(wf, "gate", work, CONTEXT, {**env, "FAKE_RECORDS_CODE": "2", "FAKE_COMPARE_CODE": "0"})
    job.run(skip=("Install promptctl",))
    assert job.exit_of("Fetch") == 0
    assert "::warning title=promptctl::no run records fetched" in job.output_of("Fetch")
    assert job.exit_of("Verdict") == 0


def test_record_job_retries_a_rejected_notes_push(
    wf: dict[str, Any], fake: tuple[Path, dict[str, str]]
) -> None:
    work, env = fake
    exe = Path(env["PATH"].split(":")[0]) / "promptctl"
    # the first push is rejected (someone pushed notes meanwhile), the second goes through
    exe.write_text(
        '#!/bin/bash\necho "$1 $2" >> "$FAKE_LOG"\n'
        '[ "$2" = push ] && [ "$(grep -c push "$FAKE_LOG")" = 1 ] && exit 1\nexit 0\n'
    )
    # no real sleeping in the test
    (exe.parent / "sleep").write_text("#!/bin/bash\nexit 0\n")
    (exe.parent / "sleep").chmod(0o755)
    job = Job(wf, "record", work, CONTEXT, env)
    job.run(skip=("Install promptctl",))
    assert calls(env) == [
        "test ",
        "show --format",
        "records pull",
        "records push",
        "records pull",
        "records push",
    ]
    assert job.exit_of("Publish") == 0


def test_install_step_refuses_an_empty_requirement(fake: tuple[Path, dict[str, str]]) -> None:
    work, env = fake
    wf = load(workflow_texts()["init-fill-in"])
    job = Job(wf, "gate", work, CONTEXT, env)
    job.run()
    assert job.exit_of("Install promptctl") == 1
    assert "::error title=promptctl::set PROMPTCTL_REQUIREMENT at the top of" in job.output_of("Install")
    # after a failed install only the always() steps run: no records fetched, no models called
    # compare: the HTML report, --offline
    assert [c.split()[0] for c in calls(env)] == ["diff", "report", "report", "compare"]
    assert job.exit_of("Verdict") == 1


# -- the real promptctl on a real repository ------------------------------------------------------
ECHO_PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
ECHO_CASES = """
    prompt: echo
    cases:
      - {id: hello, vars: {text: hello world}, assert: [{type: contains, value: hello}]}
      - {id: other, vars: {text: anything}, assert: [not_empty]}
"""


@pytest.mark.parametrize("drop", [False, True])
def test_gate_job_with_the_real_promptctl(tmp_path: Path, drop: bool) -> None:
    """The repository's workflow steps, verbatim, on a pull request that keeps or drops quality."""
    with FakeServer(spec={"mode": "echo"}) as srv:
        root, base = new_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": config(srv.url),
                "prompts/echo.yaml": ECHO_PROMPT,
                "cases/echo.yaml": ECHO_CASES,
            },
        )
        template = '"{{ text | upper }}"' if drop else '"{{ text }}!"'
        commit(root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', template)}, "change")
        wf = load(workflow_texts()["repository"])
        bin_dir = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env.update(PATH=f"{bin_dir}:{env['PATH']}", FAKE_KEY=KEY, **RUNNER_ENV)
        context = {**CONTEXT, "github.event.pull_request.base.sha": base}
        job = Job(wf, "gate", root, context, env)
        job.run(skip=("Install promptctl",))
    assert job.exit_of("Fetch") == 0  # no remote here: a warning, and compare runs the base itself
    assert "::warning title=promptctl::no run records fetched" in job.output_of("Fetch")
    assert job.outputs["gate"]["code"] == ("1" if drop else "0")
    assert job.exit_of("Verdict") == (1 if drop else 0)
    posted = job.outputs["report"]["report"]
    assert posted.startswith(VERDICT[1] if drop else VERDICT[0])
    if drop:  # compare's markdown: the regression listed, the unchanged case counted
        assert (
            "**pass→fail** · `echo` · `fake` · 1 case" in posted
            and "| `hello` | pass 1/1 | fail 0/1 |" in posted
        )
        assert "Not listed: 1 still passing (1 of them with a changed output)" in posted
    else:
        assert "Not listed: 2 still passing (2 of them with a changed output)" in posted
    assert "HELLO WORLD" in posted or "hello world!" in posted  # diff's rendered messages or outputs
    assert job.summary == (root / "promptctl-report.md").read_text()
    # the HTML report the artefact step uploads: made from the records compare left, no model call
    assert job.exit_of("HTML report") == 0
    page = (root / "promptctl-report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and ("Gate: failed" if drop else "Gate: passed") in page
