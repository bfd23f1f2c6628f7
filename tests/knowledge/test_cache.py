"""The knowledge cache: a cached load is the fresh load, and nothing stale or broken survives."""

from __future__ import annotations

from pathlib import Path

import pytest

from azdiag.knowledge import formats as formats_module
from azdiag.knowledge import rulebook
from azdiag.knowledge.cache import CACHE_ENV, template_cache
from azdiag.knowledge.formats import FormatError, load_formats
from azdiag.knowledge.rulebook import RuleError, load_rules
from azdiag.knowledge.workflow import load_workflow

CUSTOM = """
kind = "Custom"
file_names = ["custom-*.log"]
[[headers]]
regex = '^(?P<level>\\w+): (?P<message>.*)$'
[[signatures]]
event = "custom_start"
keyword = "started"
pattern = 'started (?P<what>\\w+)'
"""

RULE = """
[[rules]]
id = "custom-rule"
title = "{title}"
severity = "warning"
explanation = "x"
advice = "y"
when = {{ type = "match", select = {{ text = "{text}" }} }}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _fresh(monkeypatch: pytest.MonkeyPatch, load, *args, **kwargs):
    """``load`` with the cache turned off."""
    with monkeypatch.context() as patch:
        patch.setenv(CACHE_ENV, "")
        return load(*args, **kwargs)


def _no_rebuild(monkeypatch: pytest.MonkeyPatch, module) -> None:
    """From now on a load of ``module`` must come from the cache."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("loaded afresh instead of from the cache")

    monkeypatch.setattr(module, "_load_checked", refuse)


def _user_rules(folder: Path, *, title: str = "T", text: str = "boom") -> Path:
    """``folder`` holding one rule, ``custom-rule``, with that title, matching that text."""
    folder.mkdir(exist_ok=True)
    (folder / "custom.toml").write_text(RULE.format(title=title, text=text), encoding="utf-8")
    return folder


@pytest.fixture
def stages() -> set[str]:
    return set(load_workflow().stages)


def _user_formats(folder: Path, body: str = CUSTOM) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "custom.toml").write_text(body, encoding="utf-8")
    return folder


def test_a_cached_format_load_equals_a_fresh_one(cache, tmp_path, monkeypatch):
    user = _user_formats(tmp_path / "formats")
    first = load_formats([user])
    assert list(cache.glob("formats-*.pickle"))
    fresh = _fresh(monkeypatch, load_formats, [user])
    _no_rebuild(monkeypatch, formats_module)
    cached = load_formats([user])
    assert cached == fresh == first
    assert [f.raw for f in cached] == [f.raw for f in fresh]  # raw is not part of ==
    assert cached["custom"].signatures == fresh["custom"].signatures


def test_a_cached_rule_load_equals_a_fresh_one(cache, tmp_path, monkeypatch, stages):
    user = _user_rules(tmp_path / "rules")
    first = load_rules([user], stages=stages)
    fresh = _fresh(monkeypatch, load_rules, [user], stages=stages)
    _no_rebuild(monkeypatch, rulebook)
    cached = load_rules([user], stages=stages)
    assert cached == fresh == first
    assert any(rule.id == "custom-rule" for rule in cached)


def test_a_changed_file_is_read_again(cache, tmp_path):
    user = _user_formats(tmp_path / "formats")
    assert load_formats([user])["custom"].kind == "Custom"
    _user_formats(user, CUSTOM.replace('"Custom"', '"Renamed"'))
    assert load_formats([user])["custom"].kind == "Renamed"
    (user / "extra.toml").write_text("[[headers]]\nregex = '^(?P<message>.*)$'\n", encoding="utf-8")
    assert "extra" in load_formats([user])


def test_a_changed_rule_is_read_again(cache, tmp_path, stages):
    user = _user_rules(tmp_path / "rules", title="Before")
    assert {r.id: r for r in load_rules([user], stages=stages)}["custom-rule"].title == "Before"
    _user_rules(user, title="After")
    assert {r.id: r for r in load_rules([user], stages=stages)}["custom-rule"].title == "After"


def test_a_bad_regex_fails_clearly_after_a_good_load_was_cached(cache, tmp_path):
    user = _user_formats(tmp_path / "formats")
    load_formats([user])
    _user_formats(user, CUSTOM.replace("(?P<level>\\w+): ", "(?P<level>\\w+(: "))
    for _ in range(2):  # a failed load is not kept: the second run fails the same way
        with pytest.raises(FormatError, match=r"custom\.toml: headers\[0\] regex does not compile"):
            load_formats([user])


def test_a_signature_pattern_only_python_runs_fails_at_format_load(cache, tmp_path):
    user = _user_formats(tmp_path / "formats", CUSTOM.replace("started (?P", "started (?=x)(?P"))
    with pytest.raises(
        FormatError,
        match=r"signatures\[0\] pattern is not supported by the parsing engine: "
        r"look-around, including look-ahead and look-behind, is not supported \(at '\(\?='\)",
    ):
        load_formats([user])


def test_the_cli_says_which_user_format_is_bad_on_every_run(cache, tmp_path):
    from click.testing import CliRunner

    from azdiag.cli import main
    from tests.conftest import FIXTURES

    user = _user_formats(tmp_path / "formats")
    args = ["formats", "list", "--formats", str(user)]
    assert CliRunner().invoke(main, args).exit_code == 0  # a good load, now cached
    _user_formats(user, CUSTOM.replace("^(?P<level>", "^(?<=x)(?P<level>"))
    for _ in range(2):
        result = CliRunner().invoke(
            main, ["report", str(FIXTURES / "S01"), "--format", "json", "--formats", str(user)]
        )
        assert result.exit_code == 2
        assert f"{user / 'custom.toml'}: headers[0] regex is not supported" in result.output
        assert "look-around" in result.output and "Traceback" not in result.output


def test_a_bad_rule_regex_fails_clearly_after_a_good_load_was_cached(cache, tmp_path, stages):
    user = _user_rules(tmp_path / "rules")
    load_rules([user], stages=stages)
    _user_rules(user, text="(boom")
    with pytest.raises(RuleError, match="does not compile"):
        load_rules([user], stages=stages)


def test_a_cache_folder_that_cannot_be_made_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    user = _user_formats(tmp_path / "formats")
    assert load_formats([user]) == _fresh(monkeypatch, load_formats, [user])
    assert load_formats([user])["custom"].kind == "Custom"


def test_a_corrupt_cache_entry_is_ignored(cache, tmp_path, monkeypatch):
    user = _user_formats(tmp_path / "formats")
    load_formats([user])
    (entry,) = cache.glob("formats-*.pickle")
    for garbage in (b"", b"not a pickle", entry.read_bytes()[:100]):
        entry.write_bytes(garbage)
        assert load_formats([user]) == _fresh(monkeypatch, load_formats, [user])


def test_templates_compile_without_a_usable_cache(tmp_path, monkeypatch):
    from azdiag.render.html import _environment

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    assert _environment().get_template("report.html.j2") is not None


def test_a_cached_template_renders_as_a_fresh_one(cache, monkeypatch):
    from jinja2 import DictLoader, Environment

    loader = DictLoader({"t.html": "{% for x in items %}<{{ x }}>{% endfor %}"})

    def render() -> str:
        env = Environment(loader=loader, bytecode_cache=template_cache(__file__))
        return env.get_template("t.html").render(items=["a", "b"])

    first = render()
    (stored,) = (cache / "templates").iterdir()
    assert render() == first == "<a><b>"
    stored.write_bytes(b"garbage")
    assert render() == first
    stale = stored.with_name(stored.name.split("-")[0] + "-0123456789abcdef.jinja")
    stored.rename(stale)  # as if written by another version of azdiag
    assert render() == first
    assert [p.name for p in (cache / "templates").iterdir()] == [stored.name]


def test_an_entry_of_another_user_is_not_loaded(cache, tmp_path, monkeypatch):
    import os

    user = _user_formats(tmp_path / "formats")
    load_formats([user])
    built = []
    load_checked = formats_module._load_checked
    monkeypatch.setattr(
        formats_module, "_load_checked", lambda folders: built.append(1) or load_checked(folders)
    )
    load_formats([user])
    assert built == []  # our own entry is used
    monkeypatch.setattr(os, "getuid", lambda: os.stat(cache).st_uid + 1)
    assert load_formats([user]) == _fresh(monkeypatch, load_formats, [user])
    assert len(built) == 2  # the entry was not trusted: loaded afresh (and once more uncached)


def test_a_cached_load_knows_the_group_names_of_its_patterns(cache, tmp_path, monkeypatch):
    from azdiag.parse.signatures import load_signatures

    user = _user_formats(tmp_path / "formats")
    load_formats([user])
    monkeypatch.setattr(formats_module, "_usable", {})  # a new process: nothing checked yet
    _no_rebuild(monkeypatch, formats_module)
    signatures = load_signatures(load_formats([user]))
    (custom,) = signatures.by_format["custom"]
    assert formats_module._usable[custom.pattern] == custom.fields == ("what",)


def test_the_default_cache_folder_follows_xdg(tmp_path, monkeypatch):
    """On Linux (where the tests run): platformdirs' user cache folder, XDG_CACHE_HOME first."""
    from azdiag.knowledge.cache import cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "azdiag"
    monkeypatch.setenv(CACHE_ENV, "")
    assert cache_dir() is None
