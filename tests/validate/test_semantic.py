"""``similar`` end to end: embeddings through litellm's embedding API over real HTTP to the
loopback server (``/v1/embeddings``, a deterministic bag-of-words vector), cached, recorded by
``--record`` and replayed by ``--offline`` with the server gone."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.execute.embeddings import cosine, decode_vector, encode_vector
from tests.fakeserver import FakeServer, fake_embedding
from tests.helpers import init_repo, invoke, write_files

KEY = "sk-test-0123456789abcdef0123456789"


def files(url: str, *, embedding_model: str = "embedding_model: emb") -> dict[str, str]:
    return {
        "promptctl.yaml": f"""
            model: fake
            {embedding_model}
            max_retries: 1
            retry_max_wait: 0.1
            timeout: 5
            models:
              fake: {{model: openai/gpt-4o-mini, api_base: {url}, api_key_env: FAKE_KEY}}
              emb: {{model: openai/text-embedding-fake, api_base: {url}, api_key_env: FAKE_KEY}}
              other-emb: {{model: openai/other-embedding, api_base: {url}, api_key_env: FAKE_KEY}}
        """,
        "prompts/echo.yaml": """
            inputs: {text: {}}
            template: "{{ text }}"
        """,
        "cases/echo.yaml": """
            prompt: echo
            cases:
              - id: paraphrase
                vars: {text: the cat sat on the mat today}
                expected: today the cat sat on a mat
                assert:
                  - type: similar
              - id: unrelated
                vars: {text: the cat sat on the mat}
                expected: quarterly revenue grew nine percent
                assert:
                  - type: similar
              - id: explicit
                vars: {text: red green blue}
                assert:
                  - {type: similar, value: blue green red yellow, threshold: 0.5, embedding_model: other-emb}
        """,
    }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_KEY", KEY)
    return init_repo(tmp_path / "repo", files(server.url))


def _verdicts(root: Path, *args: str) -> dict[str, tuple[str, str]]:
    r = invoke("test", "--format", "json", *args, cwd=root)
    rows = json.loads(r.stdout)["rows"]
    return {
        row["case"]: (row["status"], row["asserts"][0]["reason"] if row["asserts"] else row["error"])
        for row in rows
    }


def test_similar_passes_by_meaning_and_fails_unrelated_text(proj: Path, server: FakeServer) -> None:
    v = _verdicts(proj)
    assert v["paraphrase"][0] == "pass" and v["paraphrase"][1].startswith("cosine similarity 0.")
    expected = cosine(
        tuple(fake_embedding("the cat sat on the mat today")),
        tuple(fake_embedding("today the cat sat on a mat")),
    )
    assert f"cosine similarity {expected:.2f} >= threshold 0.75 (emb)" in v["paraphrase"][1]
    assert v["unrelated"][0] == "fail" and "< threshold 0.75 (emb)" in v["unrelated"][1]
    assert v["explicit"][0] == "pass" and "(other-emb)" in v["explicit"][1]
    stats = server.stats()
    assert stats["embeddings"] == 6  # two texts per check, each once
    assert {b["model"] for b in stats["embedding_bodies"]} == {"text-embedding-fake", "other-embedding"}
    assert all(len(b["input"]) == 1 for b in stats["embedding_bodies"])
    # a rerun is answered by the cache: no embedding request
    assert _verdicts(proj) == v
    assert server.stats()["embeddings"] == 6


def test_record_then_offline_replay_grades_the_same_without_a_server(proj: Path, server: FakeServer) -> None:
    first = _verdicts(proj, "--record")
    rec = proj / "cases/__recordings__/echo.embeddings.jsonl"
    lines = rec.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "promptctl embeddings 1"
    entries = [json.loads(line) for line in lines[1:]]
    assert len(entries) == 6 and [e["fingerprint"] for e in entries] == sorted(
        e["fingerprint"] for e in entries
    )
    by_text = {e["text"]: e for e in entries}
    vec = decode_vector(by_text["today the cat sat on a mat"]["vector"])
    assert vec is not None and all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(vec, fake_embedding("today the cat sat on a mat"), strict=True)
    )
    assert KEY not in rec.read_text()
    server.stop()
    # no cache, no server: outputs and embeddings both come from the recordings
    assert _verdicts(proj, "--offline", "--no-cache") == first


def test_a_full_rerecord_drops_embeddings_no_longer_used(proj: Path, server: FakeServer) -> None:
    assert invoke("test", "--record", cwd=proj).exit_code == 1
    rec = proj / "cases/__recordings__/echo.embeddings.jsonl"
    assert len(rec.read_text().splitlines()) == 7
    text = (
        (proj / "cases/echo.yaml")
        .read_text()
        .replace("expected: quarterly revenue grew nine percent", "expected: the cat sat")
    )
    write_files(proj, {"cases/echo.yaml": text})
    assert invoke("test", "--record", cwd=proj).exit_code == 0
    texts = [json.loads(line).get("text") for line in rec.read_text().splitlines()[1:]]
    assert "quarterly revenue grew nine percent" not in texts and "the cat sat" in texts and len(texts) == 6


def test_offline_without_a_recording_says_how_to_record(proj: Path) -> None:
    v = _verdicts(proj, "--offline")
    assert v["paraphrase"][0] == "error"  # the output itself has no recording


def test_offline_with_outputs_recorded_but_an_embedding_missing(proj: Path, server: FakeServer) -> None:
    assert invoke("test", "--record", cwd=proj).exit_code == 1
    rec = proj / "cases/__recordings__/echo.embeddings.jsonl"
    lines = rec.read_text().splitlines()
    rec.write_text("\n".join(line for line in lines if '"text": "quarterly' not in line) + "\n")
    v = _verdicts(proj, "--offline", "--no-cache")
    assert v["unrelated"][0] == "error"
    assert (
        "--offline: the embedding of 'quarterly revenue grew nine percent' by 'emb' is not recorded"
        in v["unrelated"][1]
    )
    assert "promptctl test --record cases/echo.yaml" in v["unrelated"][1]
    assert v["paraphrase"][0] == "pass"


def test_no_embedding_model_and_a_failing_endpoint_are_errors_with_the_fix(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    root = init_repo(tmp_path / "r", files(server.url, embedding_model=""))
    v = _verdicts(root)
    assert v["paraphrase"][0] == "error"
    assert "similar needs an embedding model: set `embedding_model` in promptctl.yaml" in v["paraphrase"][1]
    assert v["explicit"][0] == "pass"  # its own embedding_model
    server.configure(faults=[{"kind": "400", "always": True, "match": "other-embedding"}])
    v = _verdicts(root, "--no-cache")
    assert v["explicit"][0] == "error" and "embedding the output with other-emb failed" in v["explicit"][1]


def test_broken_recording_is_located(proj: Path, server: FakeServer) -> None:
    assert invoke("test", "--record", cwd=proj).exit_code == 1
    rec = proj / "cases/__recordings__/echo.embeddings.jsonl"
    rec.write_text(rec.read_text() + "{not json\n")
    r = invoke("test", "--offline", "--no-cache", cwd=proj)
    assert r.exit_code == 2 and "cases/__recordings__/echo.embeddings.jsonl:8:1: not a JSON line" in r.output


def test_vectors_and_cosine() -> None:
    v = (0.5, -1.25, 3.0)
    assert decode_vector(encode_vector(v)) == v
    assert decode_vector("nope") is None and decode_vector("f32:!!") is None
    assert cosine((1.0, 0.0), (2.0, 0.0)) == 1.0 and cosine((1.0, 0.0), (0.0, 3.0)) == 0.0
    with pytest.raises(ValueError, match="different sizes"):
        cosine((1.0,), (1.0, 2.0))
    with pytest.raises(ValueError, match="zero vector"):
        cosine((0.0, 0.0), (1.0, 2.0))
    assert fake_embedding("A b") == fake_embedding("b a")
