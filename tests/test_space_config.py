"""`python -m rekogan space`'s reading of the Space config: the README front matter (huggingface_hub's
SpaceCard) and the gradio pin in requirements.txt (packaging's Requirement). Fast: no staging, no network."""
from __future__ import annotations

import pytest

from conftest import REPO
from rekogan.commands import space
from rekogan.commands.common import UsageError


# ---- the front matter ----------------------------------------------------------------------------

def test_the_shipped_readme_is_a_gradio_space_on_the_pinned_gradio():
    meta = space.front_matter((REPO / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["python_version"] == "3.11"
    assert meta["sdk_version"] == space.pinned((REPO / "requirements.txt").read_text(encoding="utf-8"), "gradio")


def test_front_matter_is_read_as_yaml():
    meta = space.front_matter('---\ntitle: "a: b"   # a comment\nsdk: gradio\ntags:\n  - x\n  - y\n'
                              "sdk_version: '6.31.0'\npinned: false\n---\n# body\n")
    assert meta["title"] == "a: b" and meta["sdk_version"] == "6.31.0"
    assert meta["tags"] == ["x", "y"] and meta["pinned"] is False


@pytest.mark.parametrize("text, message", [
    ("# title\n", "no front matter"),
    ("---\ntitle: t\n# never closed\n", "no front matter"),
    ("---\nsdk: [gradio\n---\n", "not a YAML mapping"),
    ("---\n- a\n- b\n---\n", "not a YAML mapping"),
])
def test_a_broken_front_matter_is_one_line(text, message):
    with pytest.raises(UsageError, match=message) as e:
        space.front_matter(text)
    assert "\n" not in str(e.value)


# ---- the gradio pin ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("gradio==6.31.0\n", "6.31.0"),
    ("gradio[oauth]==6.31.0\n", "6.31.0"),                                  # extras
    ("gradio[oauth,mcp] == 6.31.0\n", "6.31.0"),
    ('gradio==6.1.0 ; python_version >= "3.10"\n', "6.1.0"),                # an environment marker
    ("Gradio==6.31.0\n", "6.31.0"),                                         # names compare like PyPI's
    ("gradio==6.31.0  # the UI\n", "6.31.0"),                               # a comment after it
    ("# gradio==5.0.0\ngradio==6.31.0\n", "6.31.0"),                        # a commented-out pin
    ("gradio_client==2.7.2\ngradio-client==2.7.2\n", None),                 # another package
    ("gradio>=6\n", None),                                                  # a range is no pin
    ("gradio==6.*\n", None),                                                # nor a wildcard
    ("gradio>=6,==6.31.0\n", "6.31.0"),
    ("--index-url https://example.org/simple\n-e ./local\ngradio==6.31.0\n", "6.31.0"),   # options skipped
    ("torch==2.14.1 \\\n    --hash=sha256:abc\ngradio==6.31.0 \\\n  ; python_version > '3'\n", "6.31.0"),
    ("-r base.txt\n", None),                                                # an include, not followed without base
    ("", None),
])
def test_pinned_reads_requirements_as_pip_does(text, want):
    assert space.pinned(text, "gradio") == want


def test_pinned_follows_includes_from_the_files_folder(tmp_path):
    (tmp_path / "base.txt").write_text("numpy>=1.26\ngradio[oauth]==6.31.0\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "more.txt").write_text("-r ../base.txt\n")
    for text in ("-r base.txt\n", "--requirement base.txt\n", "--requirement=base.txt\n", "-rbase.txt\n",
                 "-r nested/more.txt\n"):
        assert space.pinned(text, "gradio", base=tmp_path) == "6.31.0", text
    assert space.pinned("gradio==6.0.0\n-r base.txt\n", "gradio", base=tmp_path) == "6.0.0"   # the first pin
    with pytest.raises(UsageError, match="includes missing.txt"):
        space.pinned("-r missing.txt\n", "gradio", base=tmp_path)


# ---- the two together: check_config --------------------------------------------------------------

def _stage(tmp_path, *, sdk_version: str, requirements: str):
    out = tmp_path / "stage"
    out.mkdir(parents=True)
    (out / "README.md").write_text(f"---\nsdk: gradio\nsdk_version: {sdk_version}\napp_file: app.py\n---\n")
    (out / "requirements.txt").write_text(requirements)
    (out / "app.py").write_text("")
    return out


def test_a_pin_with_extras_or_markers_matches_the_sdk_version(tmp_path):
    for i, req in enumerate(("gradio[oauth]==6.31.0\n", 'gradio==6.31.0 ; python_version >= "3.10"  # UI\n')):
        meta = space.check_config(_stage(tmp_path / str(i), sdk_version="6.31.0", requirements=req))
        assert meta["sdk_version"] == "6.31.0"


def test_an_unquoted_short_sdk_version_is_compared_as_a_version(tmp_path):
    # YAML reads 6.31 as a number; as a version it equals 6.31.0, and 6.30 (read as 6.3) does not
    assert space.check_config(_stage(tmp_path / "a", sdk_version="6.31", requirements="gradio==6.31.0\n"))
    with pytest.raises(UsageError, match=r"sdk_version '6\.3' differs from gradio==6\.30\.0"):
        space.check_config(_stage(tmp_path / "b", sdk_version="6.30", requirements="gradio==6.30.0\n"))


def test_an_include_that_is_not_staged_is_refused(tmp_path):
    with pytest.raises(UsageError, match="includes base.txt"):
        space.check_config(_stage(tmp_path, sdk_version="6.31.0", requirements="-r base.txt\n"))
