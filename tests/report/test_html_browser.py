"""The HTML report in a real browser: Debian's headless Chromium driven by selenium through the
system chromedriver. Reports made by the real CLI (litellm over HTTP to the loopback server),
opened from disk; filters clicked, rows expanded, what is visible checked, and a hostile output
(``<script>``, a closing ``</script>``, ``onerror=``) checked to stay text."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import commit_all, init_repo, invoke, write_files
from tests.report import browser

HOSTILE = (
    "</td></tr></table></pre><script>window.__pwned = 1</script></script>"
    '<img src=x onerror="window.__pwned = 2"><b title="x" "onerror=window.__pwned=3>bold?</b>'
)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    why = browser.missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs the browser: its absence there is a failure
        pytest.skip(why)
    with browser.chromium() as d:
        yield d


def _files(url: str, template: str, repeat: int = 1) -> dict[str, str]:
    return {
        "promptctl.yaml": f"""
            model: fake
            max_retries: 0
            timeout: 5
            models:
              fake:
                model: openai/gpt-4o-mini
                api_base: {url}
                api_key_env: FAKE_KEY
        """,
        "prompts/echo.yaml": f"""
            inputs: {{text: {{}}}}
            template: {json.dumps(template)}
        """,
        "cases/echo.yaml": f"""
            prompt: echo
            cases:
              - id: greeting
                tags: [smoke]
                repeat: {repeat}
                vars: {{text: hello world}}
                assert:
                  - type: contains
                    value: hello
              - id: hostile
                tags: [security]
                vars: {{text: {json.dumps(HOSTILE)}}}
                assert:
                  - type: contains
                    value: never there
        """,
    }


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, FakeServer]]:
    monkeypatch.setenv("FAKE_KEY", "sk-test-0123456789abcdef0123456789")
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield init_repo(tmp_path / "repo", _files(srv.url, "{{ text }}")), srv


def _visible_rows(d: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-status") + ":" + r.find_elements(By.TAG_NAME, "td")[3].text
            for r in d.find_elements(By.CSS_SELECTOR, "tr.unit") if r.is_displayed()]  # fmt: skip


def _not_pwned(d: Any) -> None:
    from selenium.webdriver.common.by import By

    assert d.execute_script("return window.__pwned === undefined") is True
    assert len(d.find_elements(By.TAG_NAME, "script")) == 1  # the report's own, nothing injected
    assert d.find_elements(By.CSS_SELECTOR, "img, table.cases b") == []


def test_run_report_filters_expands_and_keeps_a_script_output_as_text(
    proj: tuple[Path, FakeServer], driver: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root, _srv = proj
    r = invoke("test", "--format", "html", "-o", "report.html", cwd=root)
    assert r.exit_code == 1, r.output
    browser.open_file(driver, root / "report.html")
    _not_pwned(driver)
    assert driver.find_element(By.ID, "shown").text == "2 of 2 shown"  # the script ran under the CSP
    assert sorted(_visible_rows(driver)) == ["fail:hostile", "pass:greeting"]
    assert "1\npassed" in driver.find_element(By.ID, "summary").text
    assert driver.find_elements(By.CSS_SELECTOR, "#history svg circle")  # the history chart

    # a status filter: untick "pass"
    driver.find_element(By.CSS_SELECTOR, "input.f-status[value=pass]").click()
    assert _visible_rows(driver) == ["fail:hostile"]
    assert driver.find_element(By.ID, "shown").text == "1 of 2 shown"

    # expand the failing row: rendered messages, the output as text, the assertion and its reason
    row = driver.find_element(By.CSS_SELECTOR, "tr.unit[data-status=fail]")
    detail = row.find_element(By.XPATH, "following-sibling::tr[1]")
    assert not detail.is_displayed()
    row.click()
    assert detail.is_displayed() and row.get_attribute("aria-expanded") == "true"
    output = detail.find_element(By.CSS_SELECTOR, "pre.output")
    assert output.text == HOSTILE
    messages = detail.find_elements(By.CSS_SELECTOR, ".msg")
    assert [m.find_element(By.CLASS_NAME, "role").text for m in messages] == ["USER"]
    assert messages[0].find_element(By.TAG_NAME, "pre").text == HOSTILE
    cells = [c.text for c in detail.find_elements(By.CSS_SELECTOR, "table.asserts td")]
    assert cells[:2] == ["contains", "fail"] and "never there" in cells[3]
    _not_pwned(driver)
    row.click()
    assert not detail.is_displayed()

    # tick "pass" again, then the text search, the tag and the prompt filters
    driver.find_element(By.CSS_SELECTOR, "input.f-status[value=pass]").click()
    search = driver.find_element(By.ID, "f-search")
    search.send_keys("HELLO")
    assert _visible_rows(driver) == ["pass:greeting"]
    search.clear()
    search.send_keys("onerror")  # outputs are searched too
    assert _visible_rows(driver) == ["fail:hostile"]
    search.clear()
    search.send_keys(" ")
    Select(driver.find_element(By.ID, "f-tag")).select_by_visible_text("smoke")
    assert _visible_rows(driver) == ["pass:greeting"]
    Select(driver.find_element(By.ID, "f-tag")).select_by_visible_text("all")
    Select(driver.find_element(By.ID, "f-model")).select_by_visible_text("fake")
    Select(driver.find_element(By.ID, "f-prompt")).select_by_visible_text("echo")
    assert sorted(_visible_rows(driver)) == ["fail:hostile", "pass:greeting"]


def test_compare_report_shows_outputs_side_by_side_with_a_word_diff_and_the_gate(
    proj: tuple[Path, FakeServer], driver: Any
) -> None:
    from selenium.webdriver.common.by import By

    root, srv = proj
    write_files(root, {"cases/echo.yaml": _files(srv.url, "", repeat=5)["cases/echo.yaml"]})
    commit_all(root, "five samples")
    assert invoke("test", cwd=root).exit_code == 1
    write_files(root, {"prompts/echo.yaml": _files(srv.url, "{{ text | upper }} now")["prompts/echo.yaml"]})
    commit_all(root, "shout")
    assert invoke("test", cwd=root).exit_code == 1
    r = invoke("compare", "--gate", "HEAD~1", "HEAD", "--format", "html", "-o", "compare.html", cwd=root)
    assert r.exit_code == 1, r.output
    browser.open_file(driver, root / "compare.html")
    _not_pwned(driver)
    gate = driver.find_element(By.ID, "gate")
    assert "Gate: failed" in gate.text and "suite CMH p=" in gate.text
    pvalues = [c.text for c in gate.find_elements(By.CSS_SELECTOR, "#pvalues td")]
    assert pvalues[:4] == ["echo::greeting", "fake", "5/5", "0/5"] and float(pvalues[4]) < 0.01
    assert sorted(_visible_rows(driver)) == ["pass_to_fail:greeting", "still_failing:hostile"]

    driver.find_element(By.CSS_SELECTOR, "input.f-status[value=still_failing]").click()
    assert _visible_rows(driver) == ["pass_to_fail:greeting"]
    row = driver.find_element(By.CSS_SELECTOR, "tr.unit[data-status=pass_to_fail]")
    row.click()
    detail = row.find_element(By.XPATH, "following-sibling::tr[1]")
    base = detail.find_element(By.CSS_SELECTOR, "pre.output.base")
    head = detail.find_element(By.CSS_SELECTOR, "pre.output.head")
    assert base.text == "hello world" and head.text == "HELLO WORLD now"
    assert detail.text.count("sample 5 of 5") == 2
    assert [e.text for e in base.find_elements(By.TAG_NAME, "del")] == ["hello", "world"]
    assert [e.text for e in head.find_elements(By.TAG_NAME, "ins")] == ["HELLO", "WORLD now"]
    assert base.location["y"] == head.location["y"] and base.location["x"] < head.location["x"]

    # the hostile output, changed on the head side, is diffed as text as well
    driver.find_element(By.CSS_SELECTOR, "input.f-status[value=still_failing]").click()
    hostile = driver.find_element(By.CSS_SELECTOR, "tr.unit[data-status=still_failing]")
    hostile.click()
    pre = hostile.find_element(By.XPATH, "following-sibling::tr[1]").find_element(By.CSS_SELECTOR, "pre.base")
    assert pre.text == HOSTILE
    _not_pwned(driver)
