"""`promptctl test` against the real model: live passes, record → offline replay, and the token
counts and latencies in the run record against what the server reported (seen by the proxy)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real_model.conftest import cli, last_record, records
from tests.real_model.proxy import Exchange, RecordingProxy

pytestmark = pytest.mark.real_model

CAPITAL_PROMPT = """
    description: The capital of a country, in one sentence.
    inputs: {country: {}}
    params: {temperature: 0, max_tokens: 40}
    messages:
      - role: user
        content: "What is the capital of {{ country }}? Answer in one sentence."
"""

CAPITAL_CASES = """
    prompt: capital
    cases:
      - id: france
        vars: {country: France}
        assert:
          - {type: icontains, value: Paris}
      - id: italy
        vars: {country: Italy}
        assert:
          - {type: icontains, value: Rome}
"""


def capital_project(make_project: Callable[[dict[str, str]], Path], cases: str = CAPITAL_CASES) -> Path:
    return make_project({"prompts/capital.yaml": CAPITAL_PROMPT, "cases/capital.yaml": cases})


def exchange_for(proxy: RecordingProxy, country: str) -> Exchange:
    """The one chat request whose prompt asks about ``country``."""
    found = [e for e in proxy.chats() if any(country in str(m.get("content")) for m in e.messages)]
    assert len(found) == 1, [e.messages for e in proxy.chats()]
    return found[0]


def rows_by_case(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["case"]: r for r in record["rows"]}


def test_live_test_passes_against_the_real_model(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = capital_project(make_project)
    r = cli(root, "test")
    assert r.code == 0, r.output
    assert "2 passed, 0 failed, 0 errors" in r.stdout and "2 live" in r.stdout, r.output
    rows = rows_by_case(last_record(root))
    assert "paris" in rows["france"]["output"].lower() and "rome" in rows["italy"]["output"].lower()
    for country, case in (("France", "france"), ("Italy", "italy")):
        ex = exchange_for(proxy, country)
        row = rows[case]
        # The output in the record is the text the server sent, from the server (not a cache).
        assert row["source"] == "live" and row["status"] == "pass"
        assert row["output"] == ex.text and ex.status == 200
        assert row["provider_model"] == ex.response["model"] == "smollm2"
        assert ex.request["model"] == "smollm2" and ex.request["temperature"] == 0
        # An alias with api_base and no api_key_env is sent a dummy key, never a real one.
        assert ex.headers.get("authorization") == "Bearer no-key"
    assert len(proxy.chats()) == 2


def test_record_then_offline_replays_exactly_without_the_server(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = capital_project(make_project)
    rec = cli(root, "test", "--record")
    assert rec.code == 0, rec.output
    assert len(proxy.chats()) == 2
    recorded = rows_by_case(last_record(root))
    assert {r["source"] for r in recorded.values()} == {"live"}

    # The recording is committed-style YAML holding exactly the server's outputs.
    recording = yaml.safe_load((root / "cases/__recordings__/capital.yaml").read_text("utf-8"))
    assert str(recording.get("source", "")).startswith("recorded from"), recording.get("source")
    text = (root / "cases/__recordings__/capital.yaml").read_text("utf-8")
    for row in recorded.values():
        assert row["output"] in text or all(line in text for line in row["output"].splitlines())

    # Nothing listens at the model's address any more: any request would fail.
    proxy.close()
    n_requests = len(proxy.exchanges)
    off = cli(root, "test", "--offline")
    assert off.code == 0, off.output
    assert "2 replayed, 0 live" in off.stdout, off.output
    assert len(proxy.exchanges) == n_requests
    replayed = rows_by_case(last_record(root))
    assert len(records(root)) == 2
    for case, row in recorded.items():
        again = replayed[case]
        assert again["source"] == "recording"
        for key in ("output", "status", "score", "input_tokens", "output_tokens", "fingerprint"):
            assert again[key] == row[key], (case, key)
        # Recordings keep the latency in whole milliseconds.
        assert again["latency_ms"] == round(row["latency_ms"])
        assert again["asserts"] == row["asserts"]


def five_capitals(make_project: Callable[[dict[str, str]], Path]) -> Path:
    cases = "prompt: capital\ncases:\n" + "".join(
        f"  - {{id: {c.lower()}, vars: {{country: {c}}}, assert: [not_empty]}}\n" for c in COUNTRIES
    )
    return capital_project(make_project, cases)


COUNTRIES = ["France", "Italy", "Spain", "Japan", "Egypt"]


def test_tokens_and_latency_in_the_record_are_the_servers(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = five_capitals(make_project)
    r = cli(root, "test", "-j", "1")
    assert r.code == 0, r.output
    record = last_record(root)
    rows = rows_by_case(record)
    overheads = []
    for country in COUNTRIES:
        ex, row = exchange_for(proxy, country), rows[country.lower()]
        usage = ex.usage
        assert usage is not None, ex.response
        assert row["input_tokens"] == usage["prompt_tokens"], (country, row, usage)
        assert row["output_tokens"] == usage["completion_tokens"], (country, row, usage)
        # promptctl times the call around the server's work: never less than the server took,
        # and not much more (litellm's own per-call work on a loaded 2-core machine).
        assert row["latency_ms"] >= ex.server_ms, (country, row["latency_ms"], ex.server_ms)
        overheads.append(row["latency_ms"] - ex.server_ms)
    assert max(overheads) < 2000, overheads
    assert statistics.median(overheads) < 300, overheads
    summary = record["summary"]
    assert summary["input_tokens"] == sum(e.usage["prompt_tokens"] for e in proxy.chats() if e.usage)
    assert summary["output_tokens"] == sum(e.usage["completion_tokens"] for e in proxy.chats() if e.usage)
    assert f"tokens {summary['input_tokens']}/{summary['output_tokens']}" in r.stdout, r.output


def test_first_call_latency_has_no_start_up_cost_in_it(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = five_capitals(make_project)
    r = cli(root, "test", "-j", "1")
    assert r.code == 0, r.output
    rows = rows_by_case(last_record(root))
    first = min(proxy.chats(), key=lambda e: e.received)
    country = next(c for c in COUNTRIES if any(c in str(m.get("content")) for m in first.messages))
    overhead = rows[country.lower()]["latency_ms"] - first.server_ms
    # Later calls of the same run carry 30-80 ms of client work on this machine.
    assert overhead < 200, f"first call ({country}): latency_ms is {overhead:.0f} ms above the server's time"
