"""Traces of API calls: off by default; one line per call naming the exact prompt version; keys
never written; a trace that cannot be written is a warning and never breaks the call; reading,
filtering and statistics."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import promptctl
from promptctl.errors import InputError, UsageError
from promptctl.git import labels
from promptctl.jsonutil import canonical_json
from promptctl.runtime import traces as tr
from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.runtime.project import KEY, KEY_ENV, config, edit, make_project


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, KEY)
    return make_project(tmp_path / "proj", server.url, "traces: .promptctl/traces.jsonl")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_trace_line_names_the_exact_prompt_version(proj: Path) -> None:
    sha = labels.set_label(proj, "production")[0]
    prompt = promptctl.get_prompt("support/reply", label="production", root=proj)
    answer = prompt.complete(name="Dana", question="Refund?")
    (trace,) = lines(proj / ".promptctl/traces.jsonl")
    assert trace["trace_id"] == answer.trace_id
    assert (trace["prompt"], trace["version"], trace["label"], trace["commit"]) == (
        "support/reply",
        prompt.version,
        "production",
        sha,
    )
    assert trace["vars"] == {"name": "Dana", "question": "Refund?"}
    assert trace["messages_hash"] == hashlib.sha256(canonical_json(answer.messages).encode()).hexdigest()
    assert (trace["status"], trace["output"], trace["error"]) == ("ok", "Dana asks: Refund?", None)
    assert (trace["model"], trace["answered_by"], trace["provider_model"]) == ("fake", "fake", "gpt-4o-mini")
    assert (trace["input_tokens"], trace["output_tokens"], trace["cost"]) == (
        answer.input_tokens,
        answer.output_tokens,
        answer.cost,
    )
    assert isinstance(trace["latency_ms"], float) and trace["latency_ms"] > 0
    assert datetime.fromisoformat(str(trace["time"])) <= datetime.now(timezone.utc)
    assert (trace["origin"], trace["stream"], trace["cached"], trace["attempts"]) == ("git", False, False, 1)
    # the version a trace names is the version get_prompt reports at that label in another process
    assert invoke("label", "show", "production", "--json", cwd=proj).stdout.count(prompt.version) == 1


def test_every_kind_of_call_is_traced(proj: Path, server: FakeServer) -> None:
    prompt = promptctl.get_prompt("greet", root=proj)
    list(prompt.stream(name="a"))
    with pytest.raises(InputError):
        prompt.complete()  # a render error: traced as an error, no messages
    server.configure(faults=[{"kind": "500", "always": True}])
    with pytest.raises(promptctl.CompletionError) as failed:
        prompt.complete(name="b")
    got = lines(proj / ".promptctl/traces.jsonl")
    assert [(t["status"], t["stream"]) for t in got] == [("ok", True), ("error", False), ("error", False)]
    assert got[0]["output"] == "Hello a!" and got[0]["origin"] == "worktree" and got[0]["commit"] is None
    assert got[1]["messages_hash"] is None and "missing required variable 'name'" in str(got[1]["error"])
    assert got[2]["trace_id"] == failed.value.trace_id and "500" in str(got[2]["error"])
    assert got[2]["attempts"] == 3 and got[2]["output"] is None


def test_off_by_default(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    root = make_project(tmp_path / "p", server.url)
    monkeypatch.chdir(tmp_path)
    prompt = promptctl.get_prompt("greet", root=root)
    assert prompt.trace_path is None
    prompt.complete(name="x")
    assert not [p for p in tmp_path.rglob("*.jsonl")]


def test_where_traces_go(proj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert promptctl.get_prompt("greet", root=proj).trace_path == proj / ".promptctl/traces.jsonl"
    monkeypatch.setenv("PROMPTCTL_TRACES", str(tmp_path / "env.jsonl"))
    assert promptctl.get_prompt("greet", root=proj).trace_path == tmp_path / "env.jsonl"
    explicit = promptctl.get_prompt("greet", root=proj, traces=tmp_path / "arg.jsonl")
    assert explicit.trace_path == tmp_path / "arg.jsonl"
    assert promptctl.get_prompt("greet", root=proj, traces=False).trace_path is None
    explicit.complete(name="x")
    assert len(lines(tmp_path / "arg.jsonl")) == 1 and not (tmp_path / "env.jsonl").exists()


def test_a_traces_path_outside_the_project_is_a_located_config_error(
    tmp_path: Path, server: FakeServer
) -> None:
    root = make_project(tmp_path / "p", server.url, "traces: ../../etc/traces.jsonl")
    with pytest.raises(InputError) as exc:
        promptctl.get_prompt("greet", root=root)
    assert "promptctl.yaml:" in str(exc.value) and "traces must be a path inside the project" in str(
        exc.value
    )


def test_keys_are_never_written(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = "ghp_0123456789abcdefOTHERTOKEN"
    monkeypatch.setenv("GITHUB_TOKEN", other)
    prompt = promptctl.get_prompt("support/reply", root=proj)
    answer = prompt.complete(name=f"key {KEY}", question=f"and {other}", api_key="short", password="pw")
    assert KEY in answer.text  # the echo server sent it back: the application sees its own output
    raw = (proj / ".promptctl/traces.jsonl").read_text()
    assert KEY not in raw and other not in raw
    trace = json.loads(raw)
    assert trace["vars"]["api_key"] == "***" and trace["vars"]["password"] == "***"
    assert trace["vars"]["name"] == "key ***" and "***" in str(trace["output"])


def test_traces_use_the_one_masking_rule(proj: Path) -> None:
    """A masker registered with promptctl.secrets (what every writer goes through) masks traces too."""
    from promptctl import secrets

    unregister = secrets.register_masker(lambda text: text.replace("TOPSECRET-42", "[gone]"))
    try:
        prompt = promptctl.get_prompt("greet", root=proj)
        answer = prompt.complete(name="TOPSECRET-42")
    finally:
        unregister()
    assert "TOPSECRET-42" in answer.text  # the application still sees its own output
    raw = (proj / ".promptctl/traces.jsonl").read_text()
    assert "TOPSECRET-42" not in raw
    trace = json.loads(raw)
    assert trace["vars"]["name"] == "[gone]" and "[gone]" in trace["output"]


def test_a_full_disk_is_a_warning_never_a_failure(proj: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    prompt = promptctl.get_prompt("greet", root=proj, traces="/dev/full")
    with pytest.warns(tr.TraceWarning, match="could not write a trace to /dev/full: No space left"):
        answer = prompt.complete(name="x")
    assert answer.text == "Hello x!"


def test_an_unwritable_path_is_a_warning_never_a_failure(proj: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    prompt = promptctl.get_prompt("greet", root=proj, traces=tmp_path / "file" / "traces.jsonl")
    with pytest.warns(tr.TraceWarning, match="Not a directory"):
        assert prompt.complete(name="x").text == "Hello x!"
    with pytest.warns(tr.TraceWarning):
        assert list(prompt.stream(name="y")) == ["Hello ", "y!"]


def test_concurrent_calls_write_whole_lines(proj: Path) -> None:
    prompt = promptctl.get_prompt("greet", root=proj)

    async def main() -> None:
        import asyncio

        await asyncio.gather(*(prompt.acomplete(name=f"n{i}" * 50) for i in range(20)))

    import asyncio

    asyncio.run(main())
    got = lines(proj / ".promptctl/traces.jsonl")
    assert len(got) == 20 and len({t["trace_id"] for t in got}) == 20


def test_traces_are_appended_to_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    record = {"trace_id": "x", "time": "2026-01-01T00:00:00+00:00", "output": "y" * 10_000}
    path = tmp_path / "t.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert tr.write_trace(path, record)
    assert len(lines(path)) == 3
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"  # traces hold outputs: the owner's only


# -- reading ------------------------------------------------------------------------------------
def _t(i: int, prompt: str, version: str, status: str, minutes_ago: float, **kw: object) -> dict[str, object]:
    when = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return {
        "trace_id": f"t{i}",
        "time": when.isoformat(timespec="milliseconds"),
        "prompt": prompt,
        "version": version,
        "status": status,
        **kw,
    }


def test_read_select_and_stats(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [
        _t(1, "support/reply", "a" * 64, "ok", 120, latency_ms=100.0, cost=0.01, label="production"),
        _t(2, "support/reply", "a" * 64, "ok", 90, latency_ms=300.0, cost=0.03, label="production"),
        _t(3, "support/reply", "a" * 64, "error", 60, latency_ms=5.0, error="boom"),
        _t(4, "support/reply", "b" * 64, "ok", 10, latency_ms=50.0, cost=None, label="staging"),
        _t(5, "greet", "c" * 64, "ok", 5, latency_ms=10.0, cost=0.0),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n" + '{"torn": ')
    got = tr.read_traces(path)
    assert len(got.traces) == 5 and got.skipped == 2
    assert [t["trace_id"] for t in tr.select(got.traces, prompt="support/*")] == ["t1", "t2", "t3", "t4"]
    assert [t["trace_id"] for t in tr.select(got.traces, prompt="greet")] == ["t5"]
    assert [t["trace_id"] for t in tr.select(got.traces, failed=True)] == ["t3"]
    assert [t["trace_id"] for t in tr.select(got.traces, since=tr.parse_since("75m"))] == ["t3", "t4", "t5"]
    stats = {(s["prompt"], s["version"][:1]): s for s in tr.stats(got.traces)}
    a = stats[("support/reply", "a")]
    assert (a["calls"], a["errors"], a["labels"]) == (3, 1, ["production"])
    assert a["error_rate"] == pytest.approx(1 / 3)
    assert a["p50_latency_ms"] == pytest.approx(200.0) and a["p95_latency_ms"] == pytest.approx(290.0)
    assert (
        a["cost"] == pytest.approx(0.04)
        and a["mean_cost"] == pytest.approx(0.02)
        and a["unpriced_calls"] == 1
    )
    b = stats[("support/reply", "b")]
    assert (b["calls"], b["cost"], b["mean_cost"], b["p50_latency_ms"]) == (1, None, None, 50.0)
    assert [s["prompt"] for s in tr.stats(got.traces)] == ["greet", "support/reply", "support/reply"]
    assert tr.read_traces(tmp_path / "none.jsonl").traces == []


def test_parse_since() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    assert tr.parse_since("30m", now) == now - timedelta(minutes=30)
    assert tr.parse_since("2h", now) == now - timedelta(hours=2)
    assert tr.parse_since("7d", now) == now - timedelta(days=7)
    assert tr.parse_since("1w", now) == now - timedelta(weeks=1)
    assert tr.parse_since("2026-11-29T10:00:00+00:00") == datetime(2026, 11, 29, 10, tzinfo=timezone.utc)
    assert tr.parse_since("2026-11-29").tzinfo is not None  # local midnight
    with pytest.raises(UsageError, match="--since expects"):
        tr.parse_since("yesterday")


def test_config_traces_key_is_in_the_schema(tmp_path: Path, server: FakeServer) -> None:
    root = make_project(tmp_path / "p", server.url)
    edit(root, {"promptctl.yaml": config(server.url, "tracez: x.jsonl")}, "typo")
    r = invoke("lint", cwd=root)
    assert r.exit_code == 2 and "unknown key 'tracez'; did you mean 'traces'?" in r.output
