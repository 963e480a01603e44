"""The Python API: a prompt fetched by name (and a ref or label) from a project or an export bundle,
rendered in the same sandbox and called through the same model layer as the command line.

    import promptctl

    prompt = promptctl.get_prompt("support/reply", label="production")
    messages = prompt.render(customer_name="Dana", email="...")
    answer = prompt.complete(customer_name="Dana", email="...")
    print(answer.text, prompt.version, answer.trace_id)

No typer or rich here, nothing printed: errors are :class:`~promptctl.errors.PromptctlError`
subclasses (an unknown prompt, label or ref says what was meant), a trace that cannot be written
is a :class:`~promptctl.runtime.traces.TraceWarning`. litellm is imported on the first call, not
by :func:`get_prompt` or :meth:`Prompt.render`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from promptctl import redact
from promptctl.errors import UsageError
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target, fingerprint
from promptctl.jsonutil import canonical_json
from promptctl.redact import Placeholders, RestoringTokens, redact_messages
from promptctl.run.plan import resolve_target
from promptctl.runtime import traces as tr
from promptctl.runtime.bundle import Bundle, read_bundle
from promptctl.runtime.catalog import LoadedPrompt, load_prompt, opened, resolve_revision
from promptctl.runtime.completion import Completion, CompletionError
from promptctl.runtime.files import memory_renderer, short_version
from promptctl.runtime.streams import AsyncStream, Stream
from promptctl.secrets import add_key_names, row
from promptctl.suite.config import endpoint_changes
from promptctl.suite.render import Message, render_prompt

__all__ = ["ROOT_ENV", "AsyncStream", "Completion", "CompletionError", "Prompt", "Stream", "get_prompt"]

ROOT_ENV = "PROMPTCTL_ROOT"
T = TypeVar("T")

# Prompts read from a commit (which never changes), by (root, commit, name), and bundles read, by
# (path, mtime, size): the newest MEMO_SIZE of each, so an application that moves its labels for
# months holds a bounded amount.
MEMO_SIZE = 256
_loaded_at_commit: OrderedDict[tuple[str, str, str], LoadedPrompt] = OrderedDict()
_bundles: OrderedDict[tuple[str, int, int], Bundle] = OrderedDict()
_memo_lock = threading.Lock()


def _remember(memo: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    with _memo_lock:
        memo[key] = value
        memo.move_to_end(key)
        while len(memo) > MEMO_SIZE:
            memo.popitem(last=False)


_warm = threading.Event()  # litellm imported (with what its first call loads)


# -- finding the project ------------------------------------------------------------------------
def _locate(root: str | os.PathLike[str] | None) -> Path:
    """``root``, else ``PROMPTCTL_ROOT``, else the working directory: a directory inside a
    project, or an export bundle file."""
    given = root if root is not None else (os.environ.get(ROOT_ENV) or None)
    where = Path(given) if given is not None else Path.cwd()
    if not where.exists():
        origin = "root" if root is not None else ROOT_ENV
        raise UsageError(
            f"{origin} {str(where)!r} does not exist",
            hint="point it at a project directory or at a bundle made by `promptctl export`",
        )
    return where


def _bundle(path: Path) -> Bundle:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    with _memo_lock:
        got = _bundles.get(key)
    if got is None:
        got = read_bundle(path)
        _remember(_bundles, key, got)
    return got


def get_prompt(
    name: str,
    ref: str | None = None,
    label: str | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    traces: str | os.PathLike[str] | bool | None = None,
    cache: str | os.PathLike[str] | bool = False,
    trust_config: bool = False,
) -> Prompt:
    """The prompt ``name`` (its path under ``prompts/`` without the extension).

    ``ref`` (any git revision) or ``label`` (see ``promptctl label``) picks the commit it is read
    from; neither reads the worktree. The project is found from ``root``, else the environment
    variable ``PROMPTCTL_ROOT``, else the working directory; a bundle file made by
    ``promptctl export`` works in place of the project (it holds one commit: asking it for
    another ref or label is an error).

    ``traces``: where calls append their trace line (a path; ``False`` for none); by default
    ``PROMPTCTL_TRACES``, else the project's ``traces:`` setting, else none.
    ``cache``: ``True`` answers repeated identical calls from the project's response cache
    (``.promptctl/cache``), a path uses that SQLite file; off by default.
    ``trust_config``: a prompt read from a commit (``ref``/``label``) whose ``promptctl.yaml``
    sends keys elsewhere than the worktree's (another ``api_base`` or ``api_key_env`` for an
    alias) renders but refuses live calls (:class:`~promptctl.errors.UsageError`, listing the
    change) unless this is True: a key goes where a revision says only once you have read it. A
    bundle is the configuration the application chose to deploy: used as written.

    A prompt read from a commit is kept in memory (a commit never changes), so calling this per
    request costs the label's resolution (a few git commands), not a re-read. Raises
    :class:`~promptctl.errors.PromptctlError` subclasses: an unknown prompt, label or ref
    (with the close match), an invalid prompt file (``path:line:col``), a bad bundle.
    """
    where = _locate(root)
    if where.is_file():
        bundle = _bundle(where)
        bundle.check_revision(ref, label)
        loaded = bundle.load(name)
        if cache is True:
            raise UsageError(
                "cache=True needs a project (its .promptctl/cache); a bundle has none",
                hint="pass cache=PATH for a cache file of your own",
            )
        return Prompt(  # the file the application chose to deploy: its configuration, as written
            loaded,
            origin="bundle",
            trace_path=tr.configured_path(traces, None, None),
            cache_path=_cache_path(cache, None),
        )
    from promptctl.suite.config import load_config

    base = load_config(where)  # the worktree's config: the project root, and where traces go
    project_root = Path(base.root)
    revision = resolve_revision(project_root, ref, label)
    key = (str(project_root), revision.commit or "", name)
    with _memo_lock:
        loaded_or_none = _loaded_at_commit.get(key) if revision.commit else None
    if loaded_or_none is None:
        with opened(where, revision) as project:
            loaded_or_none = load_prompt(project, name, revision)
        if revision.commit:
            _remember(_loaded_at_commit, key, loaded_or_none)
    loaded = loaded_or_none
    if revision.label != loaded.label or revision.ref != loaded.ref:  # the same commit, named otherwise
        loaded = dataclasses.replace(loaded, ref=revision.ref, label=revision.label)
    changes = endpoint_changes(base, loaded.config) if revision.commit is not None else []
    at = f"label '{revision.label}'" if revision.label else f"'{revision.ref or revision.commit}'"
    return Prompt(
        loaded,
        untrusted=None if trust_config else _untrusted(at, changes),
        origin="worktree" if revision.commit is None else "git",
        trace_path=tr.configured_path(traces, base.traces, project_root),
        cache_path=_cache_path(cache, project_root),
    )


def _untrusted(where: str, changes: list[str]) -> str | None:
    """Why live calls are refused for a prompt read from ``where`` (None: they are not)."""
    if not changes:
        return None
    listed = "; ".join(changes)
    return (
        f"refusing a live model call: the configuration of {where} sends keys elsewhere than the "
        f"worktree's promptctl.yaml ({listed}); pass trust_config=True to get_prompt once you "
        "have read that change"
    )


def _cache_path(cache: str | os.PathLike[str] | bool, project_root: Path | None) -> Path | None:
    if cache is False or cache is None:
        return None
    if cache is True:
        from promptctl.execute.cache import default_cache_path

        assert project_root is not None
        return default_cache_path(project_root)
    return Path(cache)


# -- the prompt ---------------------------------------------------------------------------------
class Prompt:
    """A prompt at one version. Render it (no model call), or call its model.

    Attributes: ``name``, ``version`` (content id of the prompt file and its partials),
    ``commit`` (None for the worktree), ``ref``, ``label``, ``model``, ``params`` (what is sent:
    the alias's, overlaid by the prompt's), ``inputs``, ``output_format``, ``output_schema``,
    ``description``, ``tags``, ``metadata``, ``path``, ``origin`` (``worktree``, ``git`` or
    ``bundle``).
    """

    def __init__(
        self,
        loaded: LoadedPrompt,
        *,
        origin: str,
        trace_path: Path | None,
        cache_path: Path | None,
        untrusted: str | None = None,
    ) -> None:
        spec, cfg = loaded.spec, loaded.config
        self._loaded = loaded
        self._renderer = memory_renderer(loaded.files, loaded.prompts_dir)
        self._trace_path = trace_path
        self._cache_path = cache_path
        self._cache: Any = None
        self._lock = threading.Lock()
        self._untrusted = untrusted
        self.origin = origin
        self.name = spec.name
        self.version = loaded.version
        self.commit = loaded.commit
        self.ref = loaded.ref
        self.label = loaded.label
        self.path = spec.path
        self.description = spec.description
        self.kind = spec.kind
        self.model: str = spec.model or cfg.model
        self._target, self._fallbacks = resolve_target(self.model, cfg)
        self.params: dict[str, Any] = {**self._target.params_dict, **spec.params}
        self.inputs: dict[str, dict[str, Any]] = {
            n: {
                "type": i.type,
                "required": i.required,
                **({"default": i.default} if i.has_default else {}),
                "description": i.description,
            }
            for n, i in spec.inputs.items()
        }
        self.output_format = spec.output_format
        self.output_schema = spec.output_schema
        self.tags = list(spec.tags)
        self.metadata = dict(spec.metadata)
        self._policy = RetryPolicy.from_config(cfg)

    def __repr__(self) -> str:
        at = f"label={self.label!r}" if self.label else (f"ref={self.ref!r}" if self.ref else self.origin)
        commit = f", commit={self.commit[:12]!r}" if self.commit else ""
        return f"<promptctl.Prompt {self.name!r} version={self.short_version!r} {at}{commit}>"

    @property
    def short_version(self) -> str:
        """The version as tables show it: its first 12 hex digits."""
        return short_version(self.version)

    @property
    def trace_path(self) -> Path | None:
        """Where this prompt's calls append their traces (None: not traced)."""
        return self._trace_path

    # -- rendering ------------------------------------------------------------------------------
    @staticmethod
    def _vars(variables: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        if variables is not None and not isinstance(variables, Mapping):
            raise UsageError(
                f"variables must be a mapping of names to values, got {type(variables).__name__}"
            )
        return {**(variables or {}), **kwargs}

    def render(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[Message]:
        """The rendered messages ``[{"role", "content"}, ...]``: the sandbox, defaults and checks of
        ``promptctl render``, and its errors (``RenderError``, located in the prompt file).
        Variables come as keywords, or as a mapping (names that are not Python identifiers)."""
        return render_prompt(self._renderer, self._loaded.spec, self._vars(variables, kwargs))

    # -- calling --------------------------------------------------------------------------------
    def complete(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Completion:
        """Render and call the model (retries, fallbacks, the optional cache); the answer, or
        :class:`CompletionError` when the call failed. Usable inside a running event loop too
        (the call then runs in a worker thread); prefer :meth:`acomplete` there."""
        merged = self._vars(variables, kwargs)
        return _run_sync(lambda: self._call(merged, None, stream=False))

    async def acomplete(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Completion:
        """:meth:`complete` for asyncio code."""
        return await self._call(self._vars(variables, kwargs), None, stream=False)

    def stream(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Stream:
        """Iterate over the answer's text as it arrives; ``.completion`` holds the whole answer
        afterwards. Stop early with ``break`` (or ``.close()``): the call is cancelled and traced
        as such. A call retried after a failure midway streams again from its start:
        ``.completion.text`` is always the answer."""
        merged = self._vars(variables, kwargs)
        return Stream(lambda on_token: self._call(merged, on_token, stream=True))

    def astream(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> AsyncStream:
        """:meth:`stream` for asyncio code: ``async for chunk in prompt.astream(...)``."""
        merged = self._vars(variables, kwargs)
        return AsyncStream(lambda on_token: self._call(merged, on_token, stream=True))

    def _open_cache(self) -> Any:
        if self._cache_path is None:
            return None
        with self._lock:
            if self._cache is None:
                from promptctl.execute.cache import ResponseCache

                self._cache = ResponseCache(self._cache_path, flush_every=1)
        return self._cache if self._cache.enabled else None

    async def _call(
        self, variables: dict[str, Any], on_token: Callable[[str], None] | None, *, stream: bool
    ) -> Completion:
        trace_id = uuid.uuid4().hex
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        messages: list[Message] | None = None
        resp: ModelResponse | None = None
        placeholders: Placeholders | None = None
        try:
            messages = self.render(variables)
            redactor = redact.active()
            if redactor is not None and redactor.policy.inputs:
                # redact.inputs: the model (and the cache key) sees placeholders; the application
                # gets its own values back, in the answer and in the streamed chunks
                messages, placeholders = redact_messages(messages, redactor)
                if on_token is not None:
                    on_token = RestoringTokens(on_token, placeholders)
            req = ModelRequest(
                target=self._target, messages=messages, params=dict(self.params), fallbacks=self._fallbacks
            )
            cache = self._open_cache()
            fp = fingerprint(self._target.model, self._target.api_base, messages, req.params, 0)
            resp = cache.get(fp) if cache is not None else None
            if resp is not None:
                resp.source = "cache"
                if on_token is not None and resp.text:
                    on_token(resp.text)
            else:
                if self._untrusted is not None:
                    raise UsageError(self._untrusted)
                from promptctl.execute import llm

                if not _warm.is_set():
                    # litellm's one-time import (seconds) in a thread, so it blocks no event loop,
                    # and outside the call's latency, which is the application's to measure.
                    t_import = time.perf_counter()
                    await asyncio.to_thread(llm.prewarm)
                    _warm.set()
                    t0 += time.perf_counter() - t_import
                resp = await llm.complete(req, self._policy, on_token=on_token, mask_output=False)
                if resp.status == "ok" and cache is not None:
                    cache.put(fp, resp, model=self._target.model)
            if placeholders is not None:
                if isinstance(on_token, RestoringTokens):
                    on_token.flush()
                resp = dataclasses.replace(
                    resp, text=placeholders.restore(resp.text) if resp.text else resp.text
                )
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)) else "error"
            why = "stopped by the application" if status == "cancelled" else _describe(exc)
            self._trace(trace_id, started, t0, variables, messages, None, status, why, stream)
            raise
        self._trace(trace_id, started, t0, variables, messages, resp, resp.status, resp.error, stream)
        if resp.status != "ok":
            raise CompletionError(resp.error or "the model call failed", trace_id=trace_id, response=resp)
        return Completion(
            text=resp.text or "",
            trace_id=trace_id,
            prompt=self.name,
            version=self.version,
            commit=self.commit,
            label=self.label,
            model=self.model,
            answered_by=resp.answered_by,
            provider_model=resp.provider_model,
            input_tokens=resp.input_tokens,
            output_tokens=resp.output_tokens,
            cost=resp.cost,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            cached=resp.source == "cache",
            finish_reason=resp.finish_reason,
            messages=messages,
        )

    def _trace(
        self,
        trace_id: str,
        started: datetime,
        t0: float,
        variables: dict[str, Any],
        messages: list[Message] | None,
        resp: ModelResponse | None,
        status: str,
        error: str | None,
        stream: bool,
    ) -> None:
        if self._trace_path is None:
            return
        try:
            targets: list[Target] = [self._target, *self._fallbacks]
            add_key_names(t.api_key_env for t in targets)
            # one line, one masking row: the placeholders of `redact:` are consistent across its fields
            with row():
                record = {
                    "trace_id": trace_id,
                    "time": started.isoformat(timespec="milliseconds"),
                    "prompt": self.name,
                    "version": self.version,
                    "label": self.label,
                    "commit": self.commit,
                    "ref": self.ref,
                    "origin": self.origin,
                    "vars": tr.mask_vars(variables),
                    "messages_hash": None
                    if messages is None
                    else hashlib.sha256(canonical_json(messages).encode("utf-8")).hexdigest(),
                    "status": status,
                    "output": tr.masked(resp.text) if resp is not None else None,
                    "error": tr.masked(error) if error else None,
                    "model": self.model,
                    "answered_by": resp.answered_by if resp is not None else None,
                    "provider_model": resp.provider_model if resp is not None else None,
                    "input_tokens": resp.input_tokens if resp is not None else None,
                    "output_tokens": resp.output_tokens if resp is not None else None,
                    "cost": resp.cost if resp is not None else None,
                    "latency_ms": round((time.perf_counter() - t0) * 1000.0, 3),
                    "cached": resp is not None and resp.source == "cache",
                    "stream": stream,
                    "attempts": resp.attempts if resp is not None else 0,
                    "retries": resp.retries if resp is not None else 0,
                }
        except Exception as exc:  # a trace must never break the call
            import warnings

            warnings.warn(f"promptctl: could not build a trace: {exc}", tr.TraceWarning, stacklevel=2)
            return
        tr.write_trace(self._trace_path, record)


def _describe(exc: BaseException) -> str:
    from promptctl.errors import PromptctlError

    if isinstance(exc, PromptctlError):
        return exc.render().splitlines()[0] if exc.render() else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end from synchronous code, also when the calling thread already
    runs an event loop (a notebook, an async framework calling sync code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptctl-call") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
