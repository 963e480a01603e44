"""promptctl.get_prompt on real repositories: where prompts come from (worktree, ref, label, root,
PROMPTCTL_ROOT), rendering exactly as the CLI does, calls through litellm to the loopback server
(complete, acomplete, stream, astream, cache, fallbacks, failures), and the errors with hints."""

from __future__ import annotations

import asyncio
import collections
import json
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import promptctl
from promptctl.errors import ExecutionError, GitError, InputError, PromptctlError, UsageError
from promptctl.git import labels
from promptctl.runtime.catalog import UnknownPrompt
from promptctl.runtime.files import version_id
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
    return make_project(tmp_path / "proj", server.url)


VARS = {"name": "Dana", "question": "Where is my invoice?"}


# -- where prompts come from --------------------------------------------------------------------
def test_render_is_what_the_cli_renders(proj: Path) -> None:
    prompt = promptctl.get_prompt("support/reply", root=proj)
    cli = invoke(
        "render",
        "support/reply",
        "--var",
        "name=Dana",
        "--var",
        "question=Where is my invoice?",
        "--json",
        cwd=proj,
    )
    assert cli.exit_code == 0, cli.output
    assert prompt.render(**VARS) == json.loads(cli.stdout)
    assert prompt.render(VARS) == prompt.render(**VARS)  # a mapping works too
    assert prompt.render(**VARS)[0]["content"] == "You support Acme Cloud. Answer in one short sentence."


def test_attributes(proj: Path) -> None:
    p = promptctl.get_prompt("support/reply", root=proj)
    assert (p.name, p.model, p.kind, p.origin, p.commit, p.label) == (
        "support/reply",
        "fake",
        "chat",
        "worktree",
        None,
        None,
    )
    assert p.params == {"temperature": 0, "max_tokens": 50}  # the alias's, overlaid by the prompt's
    assert p.inputs["product"] == {
        "type": "any",
        "required": False,
        "default": "Acme Cloud",
        "description": "",
    }
    assert p.inputs["name"]["required"] is True
    assert (p.tags, p.output_format, p.path) == (["support"], "text", "prompts/support/reply.yaml")
    prompt_text = (proj / "prompts/support/reply.yaml").read_text()
    partial = (proj / "prompts/_partials/style.j2").read_text()
    assert p.version == version_id(prompt_text, {"_partials/style.j2": partial})
    assert p.short_version == p.version[:12] and repr(p).startswith("<promptctl.Prompt 'support/reply'")


def test_version_follows_content_not_commits(proj: Path) -> None:
    v1 = promptctl.get_prompt("support/reply", root=proj).version
    greet1 = promptctl.get_prompt("greet", root=proj).version
    edit(proj, {"cases/greet.yaml": "prompt: greet\ncases: [{id: x, vars: {name: X}}]\n"}, "cases only")
    assert (
        promptctl.get_prompt("support/reply", root=proj, ref="HEAD").version == v1
    )  # equal content, other commit
    edit(proj, {"prompts/_partials/style.j2": "Answer in two sentences."}, "partial")
    v2 = promptctl.get_prompt("support/reply", root=proj, ref="HEAD").version
    assert v2 != v1  # a partial it includes changed
    assert promptctl.get_prompt("greet", root=proj, ref="HEAD").version == greet1  # greet includes nothing
    edit(proj, {"prompts/_partials/style.j2": "Answer in one short sentence."}, "partial back")
    assert promptctl.get_prompt("support/reply", root=proj, ref="HEAD").version == v1
    # line endings are not content
    assert version_id("a\r\nb\n", {}) == version_id("a\nb\n", {})


def test_ref_and_label_read_that_commit_not_the_worktree(proj: Path) -> None:
    first = labels.set_label(proj, "production")[0]
    edit(proj, {"prompts/greet.yaml": 'inputs: {name: {}}\ntemplate: "Goodbye {{ name }}."\n'}, "v2")
    (proj / "prompts/greet.yaml").write_text('inputs: {name: {}}\ntemplate: "Uncommitted {{ name }}"\n')
    prod = promptctl.get_prompt("greet", label="production", root=proj)
    assert prod.render(name="Ada") == [{"role": "user", "content": "Hello Ada!"}]
    assert (prod.commit, prod.label, prod.ref, prod.origin) == (first, "production", None, "git")
    assert (
        promptctl.get_prompt("greet", ref="HEAD", root=proj).render(name="Ada")[0]["content"]
        == "Goodbye Ada."
    )
    assert promptctl.get_prompt("greet", ref="HEAD~1", root=proj).version == prod.version
    assert promptctl.get_prompt("greet", root=proj).render(name="Ada")[0]["content"] == "Uncommitted Ada"
    # moving the label is seen by the next get_prompt (only the commit's files are memoised)
    labels.set_label(proj, "production", "HEAD")
    assert (
        promptctl.get_prompt("greet", label="production", root=proj).render(name="A")[0]["content"]
        == "Goodbye A."
    )


def test_root_then_promptctl_root_then_cwd(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_project(tmp_path / "a", server.url)
    b = make_project(tmp_path / "b", server.url)
    edit(b, {"prompts/greet.yaml": 'inputs: {name: {}}\ntemplate: "B says hi to {{ name }}"\n'}, "b")
    (tmp_path / "c").mkdir()
    monkeypatch.chdir(a / "prompts")  # anywhere inside a project
    assert promptctl.get_prompt("greet").render(name="x")[0]["content"] == "Hello x!"
    monkeypatch.setenv("PROMPTCTL_ROOT", str(b))
    assert promptctl.get_prompt("greet").render(name="x")[0]["content"] == "B says hi to x"
    assert promptctl.get_prompt("greet", root=a).render(name="x")[0]["content"] == "Hello x!"
    monkeypatch.setenv("PROMPTCTL_ROOT", str(tmp_path / "missing"))
    with pytest.raises(UsageError, match=r"PROMPTCTL_ROOT .*missing.* does not exist"):
        promptctl.get_prompt("greet")


# -- errors -------------------------------------------------------------------------------------
def test_unknown_prompt_label_and_ref_are_promptctl_errors_with_hints(proj: Path) -> None:
    with pytest.raises(UnknownPrompt) as prompt:
        promptctl.get_prompt("support/replly", root=proj)
    assert "did you mean 'support/reply'" in prompt.value.message and "promptctl list" in (
        prompt.value.hint or ""
    )
    assert prompt.value.exit_code == 2
    labels.set_label(proj, "production")
    with pytest.raises(labels.UnknownLabel) as label:
        promptctl.get_prompt("greet", label="prodution", root=proj)
    assert "did you mean 'production'" in label.value.message and label.value.hint
    with pytest.raises(GitError) as ref:
        promptctl.get_prompt("greet", ref="no-such-branch", root=proj)
    assert "unknown revision 'no-such-branch'" in ref.value.message and ref.value.hint
    with pytest.raises(GitError, match="unknown revision 'mian'; did you mean 'main'"):
        promptctl.get_prompt("greet", ref="mian", root=proj)
    with pytest.raises(UsageError, match="not both"):
        promptctl.get_prompt("greet", ref="HEAD", label="production", root=proj)
    with pytest.raises(UnknownPrompt, match="_partials/style"):
        promptctl.get_prompt("_partials/style", root=proj)  # a partial is not a prompt
    with pytest.raises(UnknownPrompt) as none:
        promptctl.get_prompt("greet", root=proj.parent)
    assert "no prompts under prompts/" in none.value.message and "PROMPTCTL_ROOT" in (none.value.hint or "")
    for exc in (prompt.value, label.value, ref.value):
        assert isinstance(exc, PromptctlError)


def test_render_errors_are_the_clis(proj: Path) -> None:
    prompt = promptctl.get_prompt("support/reply", root=proj)
    with pytest.raises(InputError) as missing:
        prompt.render(name="Dana")
    cli = invoke("render", "support/reply", "--var", "name=Dana", cwd=proj)
    assert cli.exit_code == 2
    assert [p.format() for p in missing.value.problems] == [
        line for line in cli.stderr.splitlines() if line.startswith("prompts/")
    ]
    assert "missing required variable 'question'" in missing.value.render()
    (proj / "prompts/evil.yaml").write_text("template: \"{{ ''.__class__.__mro__ }}\"\n")
    with pytest.raises(InputError, match="not allowed to do that in the sandbox"):
        promptctl.get_prompt("evil", root=proj).render()
    (proj / "prompts/bad.yaml").write_text("templte: x\n")
    with pytest.raises(InputError) as bad:
        promptctl.get_prompt("bad", root=proj)
    assert bad.value.problems[0].format().startswith("prompts/bad.yaml:1:1: unknown key 'templte'")
    value = promptctl.get_prompt("greet", root=proj).render(name="{{ 7*7 }}")
    assert value[0]["content"] == "Hello {{ 7*7 }}!"  # values are never templates
    with pytest.raises(UsageError, match="mapping"):
        promptctl.get_prompt("greet", root=proj).render(["name"])  # type: ignore[arg-type]


def test_a_broken_case_file_does_not_stop_the_application(proj: Path) -> None:
    (proj / "cases/greet.yaml").write_text("prompt: [\n")
    assert promptctl.get_prompt("greet", root=proj).render(name="x")


def test_includes_stay_inside_prompts(proj: Path) -> None:
    (proj / "secret.txt").write_text("TOP SECRET")
    (proj / "prompts/leak.yaml").write_text("template: \"{% include '../secret.txt' %}\"\n")
    (proj / "prompts/_partials/link.j2").symlink_to(proj / "secret.txt")
    (proj / "prompts/leak2.yaml").write_text("template: \"{% include '_partials/link.j2' %}\"\n")
    for name in ("leak", "leak2"):
        with pytest.raises(InputError) as exc:
            promptctl.get_prompt(name, root=proj).render()
        assert "TOP SECRET" not in exc.value.render()


def test_import_promptctl_is_light_and_render_never_imports_litellm(proj: Path) -> None:
    code = (
        "import sys, promptctl\n"
        "heavy = [m for m in ('promptctl.runtime', 'yaml', 'jinja2', 'git', 'litellm') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        f"p = promptctl.get_prompt('greet', root={str(proj)!r}, label=None)\n"
        "p.render(name='x')\n"
        "assert 'litellm' not in sys.modules\n"
        "assert promptctl.Prompt is type(p) and 'get_prompt' in dir(promptctl)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- calls --------------------------------------------------------------------------------------
def test_complete_calls_the_model_layer(proj: Path, server: FakeServer) -> None:
    prompt = promptctl.get_prompt("support/reply", root=proj)
    answer = prompt.complete(**VARS)
    assert answer.text == str(answer) == "Dana asks: Where is my invoice?"  # the echo server
    assert (answer.prompt, answer.version, answer.model, answer.answered_by) == (
        "support/reply",
        prompt.version,
        "fake",
        "fake",
    )
    assert answer.provider_model == "gpt-4o-mini" and answer.input_tokens and answer.output_tokens == 6
    assert answer.cost is not None and answer.cost > 0 and not answer.cached
    assert answer.latency_ms < 3000  # litellm's one-time import is not the call's latency
    assert len(answer.trace_id) == 32 and answer.messages == prompt.render(**VARS)
    body = server.stats()["bodies"][0]
    assert body["temperature"] == 0 and body["max_tokens"] == 50 and body["messages"] == answer.messages
    assert server.stats()["auth_headers"] == [f"Bearer {KEY}"]
    # repeated synchronous calls (a fresh event loop each time) keep working
    assert [prompt.complete(**VARS).text for _ in range(3)] == [answer.text] * 3


def test_acomplete_and_complete_inside_a_running_loop(proj: Path) -> None:
    prompt = promptctl.get_prompt("greet", root=proj)

    async def main() -> tuple[str, str, list[str]]:
        a = await prompt.acomplete(name="Ada")
        b = prompt.complete(name="Bob")  # sync API called from async code: runs in a worker thread
        many = await asyncio.gather(*(prompt.acomplete(name=str(i)) for i in range(4)))
        return a.text, b.text, [m.text for m in many]

    assert asyncio.run(main()) == ("Hello Ada!", "Hello Bob!", [f"Hello {i}!" for i in range(4)])


def test_stream_yields_the_text_as_it_arrives(proj: Path, server: FakeServer) -> None:
    prompt = promptctl.get_prompt("support/reply", root=proj)
    stream = prompt.stream(**VARS)
    chunks = list(stream)
    assert len(chunks) > 1 and "".join(chunks) == stream.text
    assert stream.completion is not None and stream.completion.text == "".join(chunks)
    assert server.stats()["bodies"][0]["stream"] is True
    with pytest.raises(RuntimeError, match="once"):
        list(stream)

    async def main() -> tuple[list[str], str]:
        s = prompt.astream(**VARS)
        got = [c async for c in s]
        assert s.completion is not None
        return got, s.completion.text

    got, text = asyncio.run(main())
    assert len(got) > 1 and "".join(got) == text == "Dana asks: Where is my invoice?"


def test_closing_a_stream_cancels_the_call(proj: Path, server: FakeServer, tmp_path: Path) -> None:
    server.configure(faults=[{"kind": "slow", "always": True, "seconds": 30}])
    prompt = promptctl.get_prompt("greet", root=proj, traces=tmp_path / "t.jsonl")
    stream = prompt.stream(name="Ada")
    timer = threading.Timer(0.5, stream.close)
    timer.start()
    with pytest.raises(RuntimeError, match="closed"):
        list(stream)
    timer.join()
    trace = json.loads((tmp_path / "t.jsonl").read_text())
    assert trace["status"] == "cancelled" and trace["stream"] is True


def test_stream_errors_are_raised_to_the_reader(proj: Path, server: FakeServer) -> None:
    server.configure(faults=[{"kind": "401", "always": True}])
    with pytest.raises(promptctl.CompletionError):
        list(promptctl.get_prompt("greet", root=proj).stream(name="x"))


def test_failure_is_a_completion_error(proj: Path, server: FakeServer) -> None:
    server.configure(faults=[{"kind": "500", "always": True}])
    with pytest.raises(promptctl.CompletionError) as exc:
        promptctl.get_prompt("greet", root=proj).complete(name="x")
    assert isinstance(exc.value, ExecutionError) and exc.value.exit_code == 3
    assert "500" in exc.value.message and len(exc.value.trace_id) == 32
    assert exc.value.response.attempts == 3  # max_retries: 2 in the project's config
    assert KEY not in exc.value.message


def test_fallbacks_answer_when_the_alias_fails(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    root = make_project(tmp_path / "p", server.url)
    edit(
        root,
        {"prompts/greet.yaml": 'model: broken\ninputs: {name: {}}\ntemplate: "Hello {{ name }}!"\n'},
        "fb",
    )
    server.configure(faults=[{"kind": "500", "always": True, "match": "broken-model"}])
    answer = promptctl.get_prompt("greet", root=root).complete(name="Ada")
    assert (answer.model, answer.answered_by, answer.text) == ("broken", "fake", "Hello Ada!")


def test_the_cache_answers_repeated_calls(proj: Path, server: FakeServer, tmp_path: Path) -> None:
    prompt = promptctl.get_prompt("greet", root=proj, cache=True)
    first = prompt.complete(name="Ada")
    again = promptctl.get_prompt("greet", root=proj, cache=True).complete(name="Ada")
    assert server.stats()["requests"] == 1 and not first.cached and again.cached and again.text == first.text
    assert (proj / ".promptctl/cache/cache.sqlite3").is_file()
    # a streamed call from the cache yields the whole text at once
    stream = prompt.stream(name="Ada")
    assert list(stream) == ["Hello Ada!"] and server.stats()["requests"] == 1
    # off by default
    promptctl.get_prompt("greet", root=proj).complete(name="Ada")
    assert server.stats()["requests"] == 2
    own = tmp_path / "own.sqlite3"
    promptctl.get_prompt("greet", root=proj, cache=own).complete(name="Ada")
    assert own.is_file()


def test_no_key_fails_at_once_with_the_variable_to_set(
    proj: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and nothing is warned: tracing is off by default
        with pytest.raises(promptctl.CompletionError, match=f"{KEY_ENV} is not set"):
            promptctl.get_prompt("greet", root=proj).complete(name="x")
    assert server.stats()["requests"] == 0


def test_help_and_the_new_verbs_help_never_import_the_runtime() -> None:
    code = (
        "import sys\n"
        "from promptctl.cli import main\n"
        "for argv in (['--help'], ['label', '--help'], ['traces', '--help'], ['export', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (argv, e.code)\n"
        "heavy = [m for m in ('promptctl.runtime', 'litellm', 'jinja2', 'git') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    for verb in ("label", "export", "traces"):
        assert verb in out.stdout


def test_prompts_read_from_commits_are_memoised_within_a_bound(
    proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptctl.runtime import api

    monkeypatch.setattr(api, "MEMO_SIZE", 2)
    monkeypatch.setattr(api, "_loaded_at_commit", collections.OrderedDict())
    shas = [
        edit(
            proj,
            {"prompts/greet.yaml": f'inputs: {{name: {{}}}}\ntemplate: "v{i} {{{{ name }}}}"\n'},
            f"v{i}",
        )
        for i in range(3)
    ]
    for sha in shas:
        promptctl.get_prompt("greet", ref=sha, root=proj)
    assert [key[1] for key in api._loaded_at_commit] == shas[1:]
    # a memoised prompt is the commit's, whatever the worktree holds now
    (proj / "prompts/greet.yaml").write_text("template: changed\n")
    assert promptctl.get_prompt("greet", ref=shas[2], root=proj).render(name="x")[0]["content"] == "v2 x"


def test_a_labelled_config_that_moves_keys_is_refused_until_trusted(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit's promptctl.yaml that points an alias elsewhere renders, but its live calls are
    refused (the key would follow the revision's api_base) until the application trusts it."""
    monkeypatch.setenv(KEY_ENV, KEY)
    root = make_project(tmp_path / "p", server.url)
    with FakeServer() as elsewhere:
        edit(root, {"promptctl.yaml": config(elsewhere.url)}, "point fake elsewhere")
        invoke("label", "set", "production", cwd=root)
        edit(root, {"promptctl.yaml": config(server.url)}, "back")
        prompt = promptctl.get_prompt("greet", label="production", root=root)
        assert prompt.render(name="Ada")[0]["content"] == "Hello Ada!"
        with pytest.raises(
            UsageError, match=r"sends keys elsewhere.*alias 'fake': api_base .*trust_config=True"
        ):
            prompt.complete(name="Ada")
        assert elsewhere.stats()["requests"] == 0
        trusted = promptctl.get_prompt("greet", label="production", root=root, trust_config=True)
        assert trusted.complete(name="Ada").text == "Hello Ada!"
        assert elsewhere.stats()["requests"] == 1
