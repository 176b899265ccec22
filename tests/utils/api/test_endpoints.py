"""The endpoint table is the one list: README's table names the same endpoints."""

from __future__ import annotations

import re

from conftest import ROOT
from utils.api.endpoints import ENDPOINTS, PROTECTED_PATHS


def test_readme_lists_exactly_the_endpoints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `(GET|POST) (/[^`]*)` \|", readme, flags=re.MULTILINE)
    assert sorted(listed) == sorted((e.method, e.path) for e in ENDPOINTS)


def test_readme_names_the_protected_endpoints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"is set, ((?:`/\w+`(?:, | and )?)+) need", readme.replace("\n", " "))
    assert sentence is not None
    assert set(re.findall(r"`(/\w+)`", sentence.group(1))) == PROTECTED_PATHS


def test_paths_are_unique_per_method():
    keys = [(e.method, e.path) for e in ENDPOINTS]
    assert len(keys) == len(set(keys))


def test_config_yaml_names_exactly_the_protected_endpoints():
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    comment = text[: text.index("token_env:")].rsplit("max_body_mb", 1)[1]
    assert set(re.findall(r"(/[a-z.]+)", comment)) == set(PROTECTED_PATHS)
