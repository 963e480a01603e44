"""Redaction through real runs: a suite whose inputs and outputs hold real-format personal data,
answered by the loopback server over litellm's real HTTP stack, then every writer -- run records,
reports (JSON, Markdown, JUnit, HTML), recordings, the cache, git notes, traces, printed output.
Every file written is searched for the values; the look-alikes must survive; placeholders must be
consistent within a row; and with ``inputs: true`` the server must never have received a value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import promptctl
from tests.fakeserver import FakeServer
from tests.helpers import Result, commit_all, git, init_repo, invoke
from tests.test_pii import GITHUB, LOOKALIKES

# One value of each kind (two e-mail addresses, one written twice in two cases), as people write them.
JANE, JANE_UPPER, BOB = "jane.doe@example.com", "JANE.DOE@example.com", "bob@example.org"
PHONE, CARD, IBAN, IP = "(415) 555-0132", "5555 5555 5555 4444", "DE89 3704 0044 0532 0130 00", "203.0.113.7"
VALUES = [JANE, BOB, PHONE, CARD, IBAN, IP, GITHUB]
# Look-alikes that must come through untouched (each a full line of the corpus in tests/test_pii.py).
KEPT = [t for t in LOOKALIKES if "4111111111111111" not in t]
NOTE = (
    f"Customer {JANE} (also {JANE_UPPER}) asks; cc {BOB}; phone {PHONE}; card {CARD}; "
    f"IBAN {IBAN}; seen from {IP}; token {GITHUB}. " + " | ".join(KEPT)
)
REDACTED_NOTE = (
    "Customer <EMAIL_1> (also <EMAIL_1>) asks; cc <EMAIL_2>; phone <PHONE_1>; card <CARD_1>; "
    "IBAN <IBAN_1>; seen from <IP_1>; token <SECRET_1>. " + " | ".join(KEPT)
)


def leak_forms(value: str) -> list[str]:
    """The value as written, and the forms a writer might turn it into."""
    forms = {value, value.lower(), value.replace(" ", ""), value.replace(" ", "").replace("-", "")}
    digits = "".join(ch for ch in value if ch.isdigit())
    if value in (PHONE, CARD):
        forms |= {digits, digits[-7:]}  # 5550132: the phone without its area code
    return sorted(forms)


def leaks(blob: str | bytes) -> list[str]:
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
    return [form for value in VALUES for form in leak_forms(value) if form.encode() in data]


def every_file(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def project(url: str, redact: str) -> dict[str, str]:
    other = NOTE.replace(JANE, "ann.lee@example.net").replace(JANE_UPPER, "ANN.LEE@example.net")
    return {
        "promptctl.yaml": f"""
            model: prov
            judge_model: prov
            embedding_model: emb
            max_retries: 0
            traces: .promptctl/traces.jsonl
            models:
              prov:
                model: openai/test-model
                api_base: {url}
                api_key_env: PROV_KEY
              emb: {{model: openai/text-embedding-fake, api_base: {url}, api_key_env: PROV_KEY}}
            redact:
              {redact}
        """,
        "prompts/reply.yaml": """
            inputs:
              note: {}
            template: "Handle this note: {{ note }}"
        """,
        "cases/reply.yaml": f"""
            prompt: reply
            cases:
              - id: jane
                vars:
                  note: {json.dumps(NOTE)}
                assert:
                  - {{type: contains, value: {JANE}}}
                  - {{type: pii, types: [email]}}
                  - {{type: equals, value: "{BOB} only"}}
                  - {{type: judge, rubric: "Quotes the note of {BOB}"}}
              - id: ann
                vars:
                  note: {json.dumps(other)}
                assert:
                  - {{type: contains, value: ann.lee@example.net}}
                  - {{type: similar, value: "Customer ann.lee@example.net asks", threshold: 0.1}}
        """,
    }


# The model: a judge's verdict when asked for one, else the request's last message echoed.
SERVER = {"mode": "rules", "rules": [{"match": "<rubric>", "reply": '{"score": 1, "reason": "quotes it"}'}]}


def _reasons(row: dict[str, Any]) -> list[str]:
    return [str(a["reason"]) for a in row["asserts"]]


def test_every_writer_redacts_personal_data_consistently_within_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_KEY", "prov-key-0123456789")
    outputs: list[Result] = []
    with FakeServer(spec=SERVER) as srv:
        root = init_repo(tmp_path / "repo", project(srv.url, "types: [email, phone, card, iban, ip, secret]"))
        bare = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        git(root, "remote", "add", "origin", str(bare))
        outputs.append(invoke("test", "--record", cwd=root))
        assert outputs[-1].exit_code == 1, outputs[-1].output  # jane's pii and equals checks fail
        # outputs only: the model was sent the real note
        assert any(JANE in json.dumps(b) for b in srv.bodies)
        commit_all(root, "recordings")
        reports = ("-o", "json=r.json", "-o", "markdown=r.md", "-o", "junit=r.xml", "-o", "html=r.html")
        outputs.append(invoke("test", "--live", "-v", *reports, cwd=root))
        live_before = srv.stats()["requests"]
        outputs.append(invoke("test", "--live", "--format", "json", cwd=root))
        # an answer holding personal data is not cached (a hit must be the model's very answer)
        assert srv.stats()["requests"] == live_before + 2
        outputs.append(invoke("test", "-v", cwd=root))  # replayed from the recording
        outputs.append(invoke("show", "-v", cwd=root))
        outputs.append(invoke("show", "--format", "markdown", cwd=root))
        outputs.append(invoke("records", "push", cwd=root))
        assert outputs[-1].exit_code == 0, outputs[-1].output
        outputs.append(invoke("run", "reply", "--var", f"note={NOTE}", "--no-stream", cwd=root))
        outputs.append(invoke("run", "reply", "--var", f"note={NOTE}", cwd=root))  # streamed
        assert outputs[-1].exit_code == 0 and REDACTED_NOTE in outputs[-1].stdout, outputs[-1].output
        # the Python API hands the application its own answer; its trace line is redacted
        answer = promptctl.get_prompt("reply", root=root).complete(note=NOTE)
        assert JANE in answer.text
        # a change between two commits: diff and compare reports, made from masked data
        prompt_file = root / "prompts/reply.yaml"
        prompt_file.write_text(prompt_file.read_text().replace("Handle this note:", "Please handle:"))
        commit_all(root, "reword")
        for fmt in ("json", "markdown"):
            outputs.append(invoke("diff", "HEAD~1", "--format", fmt, "-o", f"d.{fmt}", cwd=root))
            assert outputs[-1].exit_code == 0, outputs[-1].output
        for fmt in ("json", "markdown", "html"):
            outputs.append(invoke("compare", "HEAD~1", "--format", fmt, "-o", f"c.{fmt}", cwd=root))
            assert outputs[-1].exit_code in (0, 1), outputs[-1].output
    notes = git(root, "notes", "--ref=promptctl", "show", "HEAD~1")  # pushed before "reword"
    # every file but the case file the user wrote the values into
    found = {name: leaks(blob) for name, blob in every_file(root).items() if name != "cases/reply.yaml"}
    found.update({f"output {i}": leaks(r.output) for i, r in enumerate(outputs)})
    found["git note"] = leaks(notes)
    assert {k: v for k, v in found.items() if v} == {}
    written = every_file(root)
    assert {"c.json", "c.markdown", "c.html"} <= set(written)  # compare wrote (no value in them: above)
    written_reports = ("r.json", "r.md", "r.xml", "r.html", "d.json", "d.markdown")
    for name in (*written_reports, ".promptctl/traces.jsonl", "cases/__recordings__/reply.yaml"):
        assert name in written, sorted(written)  # each writer did write, and ...
        assert b"<EMAIL_1>" in written[name] or b"&lt;EMAIL_1&gt;" in written[name], name  # ... redacted
    # The row: its output and the reasons of its checks share one numbering.
    record = json.loads((root / "r.json").read_text())
    jane = next(r for r in record["rows"] if r["case"] == "jane")
    assert jane["output"] == f"Handle this note: {REDACTED_NOTE}"
    # validators saw the real output
    assert [a["passed"] for a in jane["asserts"]] == [True, False, False, True]
    assert "<EMAIL_2> only" in _reasons(jane)[2] and JANE not in json.dumps(jane)
    # the next row numbers afresh: ann's address is its <EMAIL_1>
    ann = next(r for r in record["rows"] if r["case"] == "ann")
    assert ann["output"].startswith(
        "Handle this note: Customer <EMAIL_1> (also <EMAIL_1>) asks; cc <EMAIL_2>;"
    )
    for line in (root / ".promptctl/traces.jsonl").read_text().splitlines():
        trace = json.loads(line)
        assert trace["output"] == f"Handle this note: {REDACTED_NOTE}"
        assert trace["vars"] == {"note": REDACTED_NOTE}  # the same placeholders across the line
    assert record["config"]["redact"] == {
        "types": ["email", "phone", "card", "iban", "ip", "secret"],
        "region": ["US"],
        "inputs": False,
    }


def test_inputs_true_redacts_the_request_and_restores_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_KEY", "prov-key-0123456789")
    with FakeServer(spec=SERVER) as srv:
        root = init_repo(tmp_path / "repo", project(srv.url, "inputs: true"))
        first = invoke("test", "--record", "-o", "json=r.json", cwd=root)
        assert first.exit_code == 1, first.output
        received = json.dumps(srv.bodies)
        # What the server received: placeholders, never a value; jane's and ann's notes differ
        # only in the address, so their redacted requests are one request (one fingerprint).
        assert leaks(received) == [] and "ann.lee" not in received
        # one request for the two rows, and one judge call (jane's), redacted as well
        assert srv.stats()["requests"] == 2
        assert [m["content"] for m in srv.bodies[0]["messages"]] == [f"Handle this note: {REDACTED_NOTE}"]
        judge_request = srv.bodies[1]["messages"][1]["content"]
        # ... continuing the row's placeholders: bob is <EMAIL_2> in the rubric, the request (the
        # judge's input) and the answer (its output, restored and redacted again)
        assert "<rubric>\nQuotes the note of <EMAIL_2>\n</rubric>" in judge_request
        assert judge_request.count("Customer <EMAIL_1> (also <EMAIL_1>) asks; cc <EMAIL_2>;") == 2
        record = json.loads((root / "r.json").read_text())
        rows = {r["case"]: r for r in record["rows"]}
        # validators saw the answer with each row's own values restored: both `contains` pass
        assert rows["jane"]["asserts"][0]["passed"] and rows["ann"]["asserts"][0]["passed"]
        assert rows["jane"]["fingerprint"] == rows["ann"]["fingerprint"]
        # the embeddings of `similar` (ann's answer and reference) are of the redacted texts too
        embedded = json.dumps(srv.stats()["embedding_bodies"])
        assert "Customer <EMAIL_1> asks" in embedded and "ann.lee" not in embedded and leaks(embedded) == []
        # the answer held placeholders only: it is cached, and a cached run restores it the same way
        again = invoke("test", "--live", "-o", "json=r2.json", cwd=root)
        assert srv.stats()["requests"] == 2, again.output
        rows2 = {r["case"]: r for r in json.loads((root / "r2.json").read_text())["rows"]}
        assert rows2["jane"]["source"] == "cache" and rows2["ann"]["asserts"][0]["passed"]
        # offline replay from the recording, too
        replay = invoke("test", "--offline", "-o", "json=r3.json", cwd=root)
        rows3 = {r["case"]: r for r in json.loads((root / "r3.json").read_text())["rows"]}
        assert rows3["jane"]["source"] == "recording" and rows3["ann"]["asserts"][0]["passed"], replay.output
        # `promptctl run` and the Python API: the model is sent placeholders, the caller gets its values
        printed = invoke("run", "reply", "--var", f"note={NOTE}", "--no-stream", cwd=root)
        assert printed.exit_code == 0 and REDACTED_NOTE in printed.stdout, printed.output  # printed: redacted
        prompt = promptctl.get_prompt("reply", root=root)
        assert JANE in prompt.complete(note=NOTE).text
        # (one placeholder per value: the address written twice comes back as first written)
        assert "".join(prompt.stream(note=NOTE)) == f"Handle this note: {NOTE.replace(JANE_UPPER, JANE)}"
        received = json.dumps(srv.bodies)
        assert srv.stats()["requests"] == 5 and leaks(received) == []
    recording = (root / "cases/__recordings__/reply.yaml").read_text()
    assert "<EMAIL_1>" in recording and "ann.lee" not in recording
    found = {name: leaks(blob) for name, blob in every_file(root).items() if name != "cases/reply.yaml"}
    assert {k: v for k, v in found.items() if v} == {}


def test_validators_see_the_real_output_through_warm_workers_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """A warm worker's answer is checked as an in-process one: key-masked only, never redacted
    before the validators (the record still holds it redacted)."""
    monkeypatch.setenv("PROV_KEY", "prov-key-0123456789")
    with FakeServer(spec=SERVER) as srv:
        root = init_repo(tmp_path / "repo", project(srv.url, "types: [email, phone, card, iban, ip, secret]"))
        r = invoke("test", "--live", "-o", "json=r.json", cwd=root)
        assert r.exit_code == 1, r.output
    assert "warning" not in r.stderr, r.stderr
    from promptctl.execute.workers.control import worker_statuses

    assert sum(w.get("calls") or 0 for w in worker_statuses()[1] if w.get("current")) >= 2  # answered there
    record = json.loads((root / "r.json").read_text())
    jane = next(row for row in record["rows"] if row["case"] == "jane")
    assert [a["passed"] for a in jane["asserts"]] == [True, False, False, True]
    assert jane["output"] == f"Handle this note: {REDACTED_NOTE}"
    assert leaks((root / "r.json").read_text()) == []
