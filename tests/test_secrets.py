"""Masking of key values (promptctl/secrets.py): the rules, and an end-to-end check that a key a
provider echoes back lands in nothing promptctl writes or prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from promptctl import secrets
from tests.fakeserver import FakeServer
from tests.helpers import Result, commit_all, git, init_repo, invoke

PROVIDER_KEY = "sk-prov-9f8e7d6c5b4a39281706"  # named by api_key_env
OPENAI_KEY = "sk-openai-0a1b2c3d4e5f60718293"  # a provider variable present in the environment
SHORT_KEY = "k3y!"  # 4 characters: still masked


# -- the rules -------------------------------------------------------------------------------------
def test_provider_variables_and_declared_names_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("SOME_VENDOR_API_KEY", "vendor-key-value")
    monkeypatch.setenv("MY_LOCAL_KEY", SHORT_KEY)
    monkeypatch.setenv("UNRELATED", "not-a-secret-at-all")
    secrets.add_key_names(["MY_LOCAL_KEY"])
    text = f"a {OPENAI_KEY} b vendor-key-value c {SHORT_KEY} d not-a-secret-at-all"
    assert secrets.mask(text) == "a *** b *** c *** d not-a-secret-at-all"


def test_values_shorter_than_four_characters_are_not_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "abc")
    assert secrets.mask("abc abcd") == "abc abcd"


def test_other_credential_variables_need_eight_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_0123456789abcdef")
    monkeypatch.setenv("FEATURE_TOKEN", "true")
    assert secrets.mask("ghs_0123456789abcdef is true") == "*** is true"


def test_a_key_containing_another_is_masked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_API_KEY", "abcd")
    monkeypatch.setenv("B_API_KEY", "xxabcdxx")
    assert secrets.mask("xxabcdxx abcd") == "*** ***"


def test_mask_data_touches_strings_only_and_json_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "1234")
    monkeypatch.setenv("ODD_API_KEY", 'q"uo\\te-é')
    data = {"latency_ms": 1234, "out": "key 1234", "1234": [1234.5, "x 1234"], "odd": 'q"uo\\te-é'}
    assert secrets.mask_data(data) == {
        "latency_ms": 1234,
        "out": "key ***",
        "***": [1234.5, "x ***"],
        "odd": "***",
    }
    # Inside JSON text a key appears escaped: masked in that form too.
    assert 'q\\"uo' not in secrets.mask(json.dumps({"odd": 'q"uo\\te-é'}))
    assert 'q\\"uo' not in secrets.mask(json.dumps({"odd": 'q"uo\\te-é'}, ensure_ascii=False))


def test_registered_masker_runs_after_keys_and_can_be_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    remove = secrets.register_masker(lambda t: t.replace("alice@example.com", "<email>"))
    try:
        assert secrets.mask(f"{OPENAI_KEY} alice@example.com") == "*** <email>"
        assert secrets.mask_data({"a": ["alice@example.com"]}) == {"a": ["<email>"]}
    finally:
        remove()
    assert secrets.mask("alice@example.com") == "alice@example.com"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 40])
def test_stream_masker_catches_a_key_split_across_pieces(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    text = f"start {OPENAI_KEY} middle {OPENAI_KEY}{OPENAI_KEY} end"
    sm = secrets.StreamMasker()
    shown = [sm.feed(text[i : i + size]) for i in range(0, len(text), size)]
    shown.append(sm.flush())
    assert "".join(shown) == "start *** middle ****** end"
    assert all(OPENAI_KEY[:6] not in s for s in shown)


def test_stream_masker_is_line_buffered_for_registered_maskers() -> None:
    remove = secrets.register_masker(lambda t: t.replace("555-0100", "<phone>"))
    try:
        sm = secrets.StreamMasker()
        assert sm.feed("call 555-") == ""
        assert sm.feed("0100 now\nand") == "call <phone> now\n"
        assert sm.flush() == "and"
    finally:
        remove()


def test_stream_masker_passes_through_when_nothing_to_mask() -> None:
    sm = secrets.StreamMasker()
    assert sm.feed("abc") == "abc" and sm.flush() == ""


@pytest.mark.parametrize(
    "name",
    [
        "base_url",
        "api_base",
        "api_key",
        "custom_llm_provider",
        "aws_region_name",
        "vertex_location",
        "vertex_credentials",
        "ssl_verify",
        "azure_ad_token",
        "model",
        "messages",
        "client",
        "proxy",
    ],
)
def test_endpoint_like_params(name: str) -> None:
    assert secrets.is_endpoint_param(name)


@pytest.mark.parametrize(
    "name",
    [
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "top_k",
        "seed",
        "response_format",
        "extra_headers",
        "extra_body",
        "prompt_cache_key",
        "api_version",
    ],
)
def test_ordinary_params(name: str) -> None:
    assert not secrets.is_endpoint_param(name)


# -- end to end ------------------------------------------------------------------------------------
def _files(url: str) -> dict[str, str]:
    return {
        "promptctl.yaml": f"""
            model: prov
            max_retries: 0
            models:
              prov:
                model: openai/test-model
                api_base: {url}
                api_key_env: MY_PROVIDER_KEY
        """,
        "prompts/greet.yaml": """
            inputs:
              name: {}
            template: "Say hello to {{ name }}."
        """,
        "cases/greet.yaml": """
            prompt: greet
            cases:
              - id: alice
                vars: {name: Alice}
                assert:
                  - not_empty
                  - {type: equals, value: something else entirely}
              - id: bob
                vars: {name: Bob}
                assert: [not_empty]
        """,
    }


def _every_file(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and ".git" not in p.relative_to(root).parts:
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _leaks(blob: str | bytes) -> list[str]:
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
    return [k for k in (PROVIDER_KEY, OPENAI_KEY, SHORT_KEY) if k.encode() in data]


def test_a_key_echoed_by_the_provider_is_masked_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PROVIDER_KEY", PROVIDER_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("SHORT_API_KEY", SHORT_KEY)
    echo = f"Hello! Your keys are {PROVIDER_KEY}, {OPENAI_KEY} and {SHORT_KEY}."
    error_body = f"invalid api key {PROVIDER_KEY} (openai: {OPENAI_KEY}, short: {SHORT_KEY})"
    outputs: list[Result] = []
    with FakeServer(
        spec={"mode": "fixed", "reply": echo},
        faults=[{"kind": "401", "always": True, "match": "Bob", "message": error_body}],
    ) as srv:
        root = init_repo(tmp_path / "repo", _files(srv.url))
        bare = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        git(root, "remote", "add", "origin", str(bare))
        outputs.append(invoke("test", "--record", cwd=root))
        assert "AuthenticationError (401)" in outputs[-1].output, outputs[
            -1
        ].output  # bob: the provider said 401
        assert srv.stats()["auth_headers"][0] == f"Bearer {PROVIDER_KEY}"  # the key did go to it
        commit_all(root, "recordings")
        for fmt, name in (("json", "r.json"), ("markdown", "r.md"), ("junit", "r.xml"), ("table", "r.txt")):
            outputs.append(invoke("test", "--live", "-v", "--format", fmt, "-o", name, cwd=root))
        outputs.append(invoke("test", "--no-cache", "--live", "--format", "json", cwd=root))
        outputs.append(invoke("test", "-v", cwd=root))  # replayed from the recording
        outputs.append(invoke("show", "-v", cwd=root))
        outputs.append(invoke("show", "--format", "markdown", cwd=root))
        outputs.append(invoke("history", "--json", cwd=root))
        outputs.append(invoke("records", "push", cwd=root))
        assert outputs[-1].exit_code == 0, outputs[-1].output
        outputs.append(invoke("run", "greet", "--var", "name=Ann", "--no-stream", cwd=root))
        assert outputs[-1].exit_code == 0 and "Your keys are ***" in outputs[-1].stdout, outputs[-1].output
        outputs.append(invoke("run", "greet", "--var", "name=Bob", "--no-stream", cwd=root))
        assert outputs[-1].exit_code == 3 and "invalid api key ***" in outputs[-1].stderr, outputs[-1].output
        outputs.append(invoke("--debug", "run", "greet", "--var", "name=Bob", cwd=root))
        # A key in an error promptctl raises itself, with the traceback --debug shows.
        outputs.append(invoke("--debug", "run", "greet", "--var", PROVIDER_KEY, cwd=root))
        assert outputs[-1].exit_code == 2 and "Traceback" in outputs[-1].stderr, outputs[-1].output
        outputs.append(invoke("compare", "HEAD~1", "--format", "markdown", cwd=root))
        outputs.append(invoke("cache", "stats", "--json", cwd=root))
    notes = git(root, "notes", "--ref=promptctl", "show", "HEAD")
    assert notes.strip(), "records push wrote no note"
    leaks = {name: _leaks(blob) for name, blob in _every_file(root).items()}
    leaks.update({f"output {i}": _leaks(r.output) for i, r in enumerate(outputs)})
    leaks["git note"] = _leaks(notes)
    assert {k: v for k, v in leaks.items() if v} == {}
    # ... and it was there to be masked: the outputs carry the mask where the keys were.
    record = json.loads((root / "r.json").read_text())
    assert any("Your keys are ***, *** and ***." in json.dumps(r) for r in record["rows"])
    recording = (root / "cases/__recordings__/greet.yaml").read_text()
    assert "Your keys are ***, *** and ***." in recording


@pytest.fixture(autouse=True)
def _forget_declared_names() -> object:
    before = set(secrets._key_names)
    yield None
    secrets._key_names.clear()
    secrets._key_names.update(before)


def test_stream_masker_holds_back_only_what_could_start_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    sm = secrets.StreamMasker()
    assert sm.feed("plain words ") == "plain words "  # nothing that starts a key: shown at once
    assert sm.feed("then sk-op") == "then "  # could be the start of the key: held
    assert sm.feed("en house") == "sk-open house"  # it was not
    assert sm.feed(OPENAI_KEY[:10]) == ""
    assert sm.feed(OPENAI_KEY[10:] + "!") == "***!"
