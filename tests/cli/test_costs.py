"""Costs through the CLI: `--max-cost` never silently counts nothing, aliases declare prices, and
replayed rows are priced by the same rule as live calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.execute import model_catalog
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke, many_cases

KEY = "sk-test-0123456789abcdef0123456789"


def _files(url: str, alias_extra: str = "", cfg_extra: str = "") -> dict[str, str]:
    return {
        "promptctl.yaml": f"model: fake\nconcurrency: 1\nmax_retries: 0\ntimeout: 5\n{cfg_extra}"
        f"models:\n  fake:\n    model: openai/no-such-priced-model\n    api_base: {url}\n"
        f"    api_key_env: FAKE_KEY\n{alias_extra}",
        "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
        "cases/echo.yaml": many_cases(5),
    }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)


def test_max_cost_with_an_unknown_price_refuses_before_any_call(tmp_path: Path, server: FakeServer) -> None:
    root = init_repo(tmp_path / "p", _files(server.url))
    r = invoke("test", "--max-cost", "0.000001", cwd=root)
    assert r.exit_code == 2, r.output
    assert server.stats()["requests"] == 0
    assert "openai/no-such-priced-model" in r.stderr and "--allow-unknown-cost" in r.stderr
    assert "price:" in r.stderr  # says how to declare one
    assert "Traceback" not in r.output


def test_max_cost_from_the_config_refuses_too(tmp_path: Path, server: FakeServer) -> None:
    root = init_repo(tmp_path / "p", _files(server.url, cfg_extra="max_cost: 1.0\n"))
    r = invoke("test", cwd=root)
    assert r.exit_code == 2 and server.stats()["requests"] == 0
    assert "max_cost" in r.stderr


def test_allow_unknown_cost_runs_and_says_what_is_not_counted(tmp_path: Path, server: FakeServer) -> None:
    root = init_repo(tmp_path / "p", _files(server.url))
    r = invoke("test", "--max-cost", "0.000001", "--allow-unknown-cost", cwd=root)
    assert r.exit_code == 0, r.output
    assert server.stats()["requests"] == 5
    assert "not counted" in r.stderr and "openai/no-such-priced-model" in r.stderr


def test_an_alias_price_prices_calls_and_enforces_max_cost(tmp_path: Path, server: FakeServer) -> None:
    price = "    price: {input: 1000, output: 2000}\n"  # USD per 1M tokens: 0.001 / 0.002 per token
    root = init_repo(tmp_path / "p", _files(server.url, alias_extra=price))
    r = invoke("test", "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    for row in rows:
        assert row["cost"] == pytest.approx(row["input_tokens"] * 0.001 + row["output_tokens"] * 0.002)
    server.reset()
    r = invoke("test", "--no-cache", "--max-cost", "0.001", "--format", "json", cwd=root)
    assert r.exit_code == 3, r.output
    statuses = [row["status"] for row in json.loads(r.stdout)["rows"]]
    assert statuses.count("pass") == 1 and statuses.count("skipped") == 4
    assert server.stats()["requests"] == 1


def test_dry_run_estimates_with_the_alias_price(tmp_path: Path, server: FakeServer) -> None:
    price = "    price: {input: 1000, output: 2000}\n"
    root = init_repo(tmp_path / "p", _files(server.url, alias_extra=price))
    plan = json.loads(invoke("test", "--dry-run", "--format", "json", cwd=root).stdout)
    assert plan["estimated_cost_usd"] is not None and plan["unknown_price_models"] == []


def test_replayed_rows_of_a_known_model_are_priced(repo_root: Path) -> None:
    """The example suite's recordings hold tokens but no cost: replay prices them with the table."""
    r = invoke("test", "--offline", "--format", "json", cwd=repo_root)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    rows = data["rows"]
    assert rows and all(row["source"] == "recording" for row in rows)
    for row in rows:
        expected = model_catalog.cost(row["litellm_model"], row["input_tokens"], row["output_tokens"])
        assert expected is not None and row["cost"] == pytest.approx(expected)
    assert data["summary"]["cost"] == pytest.approx(sum(row["cost"] for row in rows))
    table = invoke("test", "--offline", cwd=repo_root)
    assert "cost unknown" not in table.stdout and "cost $0.000" in table.stdout
