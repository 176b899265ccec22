"""ops/prometheus/: the alert rules pass promtool's checks and its unit tests, every rule is
tested firing and not firing, and every metric a rule reads is one the project exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

RULES_DIR = ROOT / "ops" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
RULE_TESTS = RULES_DIR / "alerts_test.yml"
needs_promtool = pytest.mark.skipif(
    not shutil.which("promtool"), reason="promtool is not installed (./setup_tools.sh prometheus)"
)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["promtool", *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120
    )


@needs_promtool
def test_the_rules_are_valid_and_pass_their_unit_tests():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@needs_promtool
def test_promtool_fails_when_a_rule_stops_doing_what_its_test_says(tmp_path):
    """The unit tests have teeth: a threshold moved in the rules fails them."""
    moved = RULES.read_text().replace("> 0.01", "> 0.05")
    assert moved != RULES.read_text()
    (tmp_path / RULES.name).write_text(moved)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    tested = subprocess.run(
        ["promtool", "test", "rules", RULE_TESTS.name], cwd=tmp_path, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert tested.returncode != 0 and "RiskApiErrorRatio" in tested.stdout + tested.stderr


def test_every_rule_is_tested_firing_and_not_firing():
    cases: dict[str, set[bool]] = {}
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group["alert_rule_test"]:
            cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "one rule per name"
    both = {True, False}
    assert {name: cases.get(name, set()) for name in names} == {name: both for name in names}


def test_every_rule_has_a_severity_and_says_what_to_look_at():
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def exported_names() -> set[str]:
    """The sample names the API, the live monitoring and the automation's textfile give."""
    from prometheus_client import Counter, Gauge, Histogram

    from utils.ops.metrics import api_metrics
    from utils.ops.monitoring_metrics import FAMILIES, PREFIX

    names = {"up"} | {PREFIX + family.name for family in FAMILIES}
    for metric in vars(api_metrics()).values():
        if isinstance(metric, Counter):
            names.add(metric._name + "_total")
        elif isinstance(metric, Histogram):
            names |= {metric._name + suffix for suffix in ("_bucket", "_sum", "_count")}
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def test_every_metric_a_rule_reads_is_exported(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from utils.ops.metrics import write_run_textfile

    textfile = tmp_path / "risk_fullprocess.prom"
    write_run_textfile(textfile, "nothing new", True, 1_700_000_000.0, 1.5)
    exported = exported_names() | {
        sample.name
        for family in text_string_to_metric_families(textfile.read_text())
        for sample in family.samples
    }
    functions = {"up", "max", "sum", "by", "rate", "increase", "histogram_quantile", "time",
                 "absent", "on", "group_left", "or", "without"}  # fmt: skip
    for rule in rules():
        read = set(re.findall(r"\b(risk_[a-z0-9_]+|up)\b(?!\s*\()", rule["expr"]))
        assert read, rule["alert"]
        assert read - functions <= exported, (rule["alert"], read - exported)


def readme_section(start: str, end: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end, text.index(start))]


def test_readme_lists_every_rule_and_shows_the_shipped_scrape_config():
    table = readme_section("**Alert rules.**", "**Alerts.**")
    listed = re.findall(r"^\| `(Risk\w+)` \| (\w+) \|", table, re.M)
    assert listed == [(rule["alert"], rule["labels"]["severity"]) for rule in rules()]
    shipped = (RULES_DIR / "prometheus.yml").read_text()
    config = shipped[shipped.index("global:") : shipped.index("# alerting:")]
    assert config in readme_section("**Metrics.**", "**Alert rules.**")


@needs_promtool
def test_the_shipped_prometheus_config_is_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
