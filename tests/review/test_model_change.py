"""The gate across a model change and removed cases: a pull request that swaps the model (the config
default, a prompt's `model`, a case file's `models`) and lets quality collapse fails; so does one
that deletes or renames the cases it made worse, unless removal is allowed on purpose."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.git.notes import notes_write
from tests.fakeserver import FakeServer, last_user_message
from tests.helpers import git, invoke
from tests.records.rows import record, row
from tests.review.common import KEY, commit, new_repo


def answer(body: dict[str, Any]) -> str:
    """The strong models echo the question (and pass); the weak ones answer nothing useful."""
    return "no idea" if body["model"].startswith("weak") else last_user_message(body)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(responder=answer) as srv:
        yield srv


def config(url: str, default: str = "strong", gate: str = "") -> str:
    aliases = "".join(
        f"  {name}:\n    model: openai/{name}-model\n    api_base: {url}\n    api_key_env: FAKE_KEY\n"
        for name in ("strong", "mid", "weak", "weak2")
    )
    return f"model: {default}\nmax_retries: 0\ntimeout: 5\nmodels:\n{aliases}{gate}"


PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""


def cases(models: str = "", repeat: int = 1, ids: tuple[str, ...] = ("hello", "bye", "other")) -> str:
    head = "prompt: echo\n" + (f"models: {models}\n" if models else "") + f"repeat: {repeat}\ncases:\n"
    return head + "".join(
        f"  - {{id: {i}, vars: {{text: 'say {i}'}}, assert: [{{type: contains, value: {i}}}]}}\n" for i in ids
    )


def start(tmp_path: Path, srv: FakeServer, case_file: str | None = None) -> tuple[Path, str]:
    files = {
        "promptctl.yaml": config(srv.url),
        "prompts/echo.yaml": PROMPT,
        "cases/echo.yaml": case_file or cases(),
    }
    return new_repo(tmp_path / "repo", files)


def gate(root: Path, base: str, *extra: str, fmt: str = "json") -> tuple[int, Any, str]:
    r = invoke("compare", base, "--gate", "--format", fmt, *extra, cwd=root)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, (json.loads(r.stdout) if fmt == "json" else r.stdout), r.stderr


def units(data: dict[str, Any]) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
    return {(u["case_key"], u["base_model"], u["head_model"]): u for u in data["units"]}


@pytest.mark.parametrize(
    "swap",
    [
        {"promptctl.yaml": "CONFIG_WEAK"},
        {"prompts/echo.yaml": "inputs: {text: {}}\nmodel: weak\ntemplate: '{{ text }}'\n"},
        {"cases/echo.yaml": cases(models="[weak]")},
    ],
    ids=["config-default", "prompt-model", "case-file-models"],
)
def test_a_model_swap_that_collapses_quality_fails(
    tmp_path: Path, server: FakeServer, swap: dict[str, str]
) -> None:
    root, c0 = start(tmp_path, server)
    if swap.get("promptctl.yaml") == "CONFIG_WEAK":
        swap = {"promptctl.yaml": config(server.url, default="weak")}
    commit(root, swap, "swap the model")
    code, data, _ = gate(root, c0)
    assert code == 1, data["gate"]
    u = units(data)
    assert set(u) == {(f"echo::{i}", "strong", "weak") for i in ("hello", "bye", "other")}
    assert all(x["transition"] == "pass_to_fail" and x["model_changed"] for x in u.values())
    assert data["totals"]["model_changes"] == 3
    assert any(
        "regression: echo::hello [strong → weak] passed at base, fail at head" in c
        for c in data["gate"]["causes"]
    )
    _, table, _ = gate(root, c0, fmt="table")
    assert "strong → weak" in table and "gate: FAILED" in table and "model changed in 3" in table
    _, md, _ = gate(root, c0, fmt="markdown")
    # one group per transition, prompt and model: the model change is its header's model
    assert "**pass→fail** · `echo` · `strong → weak` · 3 cases" in md
    assert "Outputs changed in 3 cases · model changed in 3 cases." in md
    _, page, _ = gate(root, c0, fmt="html")
    assert "<td>strong → weak</td>" in page and "Outputs not available" not in page  # each side's rows


def test_several_models_pair_identical_names_and_report_the_rest(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = start(tmp_path, server, cases(models="[strong, mid]"))
    commit(root, {"cases/echo.yaml": cases(models="[weak, mid]")}, "strong -> weak, mid stays")
    code, data, _ = gate(root, c0)
    assert code == 1
    u = units(data)
    assert {k[1:] for k in u} == {("strong", "weak"), ("mid", "mid")}
    assert u[("echo::hello", "mid", "mid")]["model_changed"] is False
    assert u[("echo::hello", "strong", "weak")]["transition"] == "pass_to_fail"
    # two models replaced by two others: which one is which cannot be told, so the base's models
    # are reported removed (the gate fails on them) and the head's new
    commit(root, {"cases/echo.yaml": cases(models="[weak, weak2]")}, "both replaced")
    code, data, _ = gate(root, c0)
    assert code == 1
    transitions = {(k[1], k[2]): x["transition"] for k, x in units(data).items() if k[0] == "echo::bye"}
    assert transitions == {
        ("strong", None): "removed",
        ("mid", None): "removed",
        (None, "weak"): "new",
        (None, "weak2"): "new",
    }
    assert any(
        c.startswith("removed at head: 6 case × model") and "echo::bye [mid]" in c
        for c in data["gate"]["causes"]
    )


def test_a_model_swap_with_repeats_is_judged_by_the_statistics(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = start(tmp_path, server, cases(repeat=5))
    commit(root, {"promptctl.yaml": config(server.url, default="weak")}, "swap")
    code, data, _ = gate(root, c0)
    assert code == 1
    st = data["gate"]["stats"]
    assert {(c["case_key"], c["model"]) for c in st["cases"]} == {
        (f"echo::{i}", "strong → weak") for i in ("hello", "bye", "other")
    }
    assert st["suite_significant"] is True


def test_deleting_or_renaming_cases_fails_unless_allowed(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = start(tmp_path, server)
    commit(root, {"cases/echo.yaml": cases(ids=("hello", "farewell"))}, "drop bye, rename other")
    code, data, err = gate(root, c0)
    assert code == 1
    assert data["gate"]["removed"] == ["echo::bye [strong]", "echo::other [strong]"]
    (cause,) = [c for c in data["gate"]["causes"] if c.startswith("removed")]
    assert cause.startswith(
        "removed at head: 2 case × model that base ran: echo::bye [strong], echo::other [strong]"
    )
    assert "gate.removed: warn" in cause and "--allow-removed" in cause
    assert {u["case_key"]: u["transition"] for u in data["units"]}["echo::farewell"] == "new"
    # on purpose: the flag, or the config, turns it into a warning
    code, data, err = gate(root, c0, "--allow-removed")
    assert code == 0 and data["gate"]["causes"] == []
    assert any(w.startswith("removed at head: 2 case × model") for w in data["gate"]["warnings"])
    assert "warning: removed at head" in err
    commit(root, {"promptctl.yaml": config(server.url, gate="gate:\n  removed: warn\n")}, "allow removals")
    code, data, _ = gate(root, c0)
    # the head's own `gate:` does not judge it: the base's applies (reported; applies once merged)
    assert code == 1 and data["gate"]["settings"]["removed"] == "fail"
    assert data["checks"]["gate_settings"] == {"removed": ["fail", "warn"]}  # reviewers see it
    _, table, _ = gate(root, c0, fmt="table")
    assert "gate settings changed in promptctl.yaml (the base's judge this change" in table
    assert "once it is merged): removed fail → warn" in table
    commit(root, {"promptctl.yaml": config(server.url, gate="gate:\n  removed: ignore\n")}, "typo")
    r = invoke("compare", c0, "--gate", cwd=root)
    assert r.exit_code == 2 and "promptctl.yaml:" in r.stderr and "removed" in r.stderr


def test_a_pull_request_trying_every_trick_fails_in_a_real_process(
    tmp_path: Path, server: FakeServer
) -> None:
    """Through `python -m promptctl`, as CI runs it: a PR that swaps in a weak model, deletes a case,
    commits a "record" of main in which everything already failed, while a damaged note of main
    sits in the notes ref. The gate runs main itself and fails, naming every cause."""
    root, c0 = start(tmp_path, server)
    notes_write(root, c0, '{"schema_version": 99}\n')
    forged = record(
        [row(c, "fail", prompt="echo", model="strong") for c in ("hello", "bye", "other")], commit=c0
    )
    commit(
        root,
        {
            "promptctl.yaml": config(server.url, default="weak"),
            "cases/echo.yaml": cases(ids=("hello", "bye")),
            f".promptctl/runs/{c0}/20260101T000000000000Z-forged.json": json.dumps(forged.to_dict()),
        },
        "cheaper model, fewer cases",
    )
    git(root, "add", "-f", ".promptctl/runs")
    git(root, "commit", "-q", "-m", "the base's record, for speed")
    proc = subprocess.run(
        [sys.executable, "-m", "promptctl", "compare", c0, "--gate"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate: FAILED" in proc.stdout
    assert "✗ regression: echo::hello [strong → weak] passed at base, fail at head" in proc.stdout
    assert "✗ removed at head: 1 case × model that base ran: echo::other [strong]" in proc.stdout
    assert "ignoring 1 run record tracked by git" in proc.stderr
    assert f"git note of {c0[:10]}, line 1: not a valid run record (schema_version 99" in proc.stderr
    assert "Traceback" not in proc.stderr
