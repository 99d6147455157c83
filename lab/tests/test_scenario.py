"""Scenario files: read with the line of every problem, refused whole before any work."""

import datetime as dt
from pathlib import Path

import pytest

from lab.core.scenario import MAX_BYTES, ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
MINIMAL = "name: ok\nspan: {from: 2026-05-03, to: 2026-05-04}\ndata: {synthetic_prices: true}\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return caught.value.errors


def test_a_minimal_scenario_takes_the_defaults():
    s = parse(MINIMAL)
    assert (s.first, s.last, s.days) == (dt.date(2026, 5, 3), dt.date(2026, 5, 4), 2)
    assert s.community.homes == 100
    assert {k for k, _ in s.tariffs} == {"flat", "tou"}
    # The baseline is always run, whatever designs are listed.
    assert {d.mechanism for d in s.designs} == {
        "retailer_only",
        "uniform",
        "pay_as_bid",
        "mid_market",
        "time_value",
    }
    assert {d.battery for d in s.designs} == {"none", "self_consumption"}


def test_the_shipped_scenarios_parse():
    for path in SCENARIOS.glob("*.yaml"):
        scenario = load(path)
        assert scenario.designs, path
        for f in scenario.data.price_files:
            assert f.is_absolute()


def test_every_problem_is_reported_with_its_line_and_key():
    text = (
        "name: Test\n"
        "community:\n"
        "  homes: 50\n"
        "  mix: {pv: 0.5, battery: -0.1, ev: 0.3}\n"
        "  colour: red\n"
        "span: {from: 2026-05-03, to: 2026-05-09}\n"
        "data:\n"
        "  synthetic_prise: true\n"
        "designs:\n"
        "  mechanisms: [uniform, barter]\n"
    )
    found = errors_of(text)
    assert any(e.startswith("line 5, community.colour: unknown key") for e in found), found
    assert any(e.startswith("line 4, community.mix.battery: must be at least 0") for e in found)
    assert any(e.startswith("line 8, data.synthetic_prise: unknown key") for e in found)
    assert any("line 10, designs.mechanisms" in e and "barter" in e for e in found)
    # No price files and no synthetic fill: refused rather than silently made up.
    assert any("data.price_files" in e and "synthetic_prices" in e for e in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nspan: {from: 2026-05-03, to: 2026-05-01}\ndata: {synthetic_prices: true}\n",
            "before the span's start",
        ),
        (
            "name: x\nspan: {from: 2025-01-01, to: 2026-05-01}\ndata: {synthetic_prices: true}\n",
            "at most 366",
        ),
        (
            "name: x\nspan: {from: 3 May, to: 2026-05-01}\ndata: {synthetic_prices: true}\n",
            "YYYY-MM-DD",
        ),
        (MINIMAL + "community: {homes: 0}\n", "at least 1 home"),
        (MINIMAL + "community: {node: Penrose}\n", "grid exit point"),
        (MINIMAL + "community: {tariff_shares: {flat: 0.6, tou: 0.6}}\n", "add up to 1.2"),
        (MINIMAL + "community: {tariff_shares: {spot: 1}}\n", "does not define"),
        (MINIMAL + "fees: {coop_fee_c: -1}\n", "fees.coop_fee_c"),
        (MINIMAL + "time_value: {theta: 1.5}\n", "time_value.theta"),
        (MINIMAL + "tariffs: {x: {import: [{times: '07:00-11:00', c: 30}]}}\n", "gap"),
        (MINIMAL + "community: {sizes: {pv_kwp: [8, 3]}}\n", "above the high end"),
        ("- just\n- a list\n", "mapping of keys"),
        ("name: [unclosed\n", "not valid YAML"),
        ("a: &x [1, 2]\nb: *x\n", "aliases"),
        (MINIMAL + "name: again\n", "given twice"),
        (
            "name: x\nspan: {from: 2025-08-01, to: 2026-07-31}\ndata: {synthetic_prices: true}\n"
            "community: {homes: 5000}\n",
            "split the study",
        ),
    ],
)
def test_bad_scenarios_are_refused_with_what_to_change(text, expected):
    found = errors_of(text)
    assert any(expected in e for e in found), found


def test_hostile_files_are_refused_cleanly():
    assert "KiB" in errors_of("name: " + "x" * MAX_BYTES)[0]
    assert "nested too deeply" in errors_of("a: " + "[" * 5000 + "]" * 5000)[0]


def test_file_paths_are_resolved_against_the_scenario_folder(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: x\nspan: {from: 2026-05-03, to: 2026-05-03}\n"
        "data: {price_files: [prices/a.csv], generation_file: ../g.csv}\n"
    )
    s = load(tmp_path / "s.yaml")
    assert s.data.price_files == ((tmp_path / "prices" / "a.csv").resolve(),)
    assert s.data.generation_file == (tmp_path.parent / "g.csv").resolve()


def test_a_site_scenario_reads_only_the_labs_data_folders(tmp_path):
    from lab.core.scenario import check_data_folders

    (tmp_path / "data").mkdir()
    inside = parse(
        "name: x\nspan: {from: 2026-05-03, to: 2026-05-04}\n"
        f"data: {{price_files: [{tmp_path / 'data' / 'p.csv'}]}}\n"
    )
    check_data_folders(inside, [tmp_path / "data"])
    # A symlink out of the folder is outside too: paths are compared resolved.
    (tmp_path / "data" / "link").symlink_to("/etc")
    sneaky = parse(
        "name: x\nspan: {from: 2026-05-03, to: 2026-05-04}\n"
        f"data: {{price_files: [{tmp_path / 'data' / 'link' / 'passwd'}]}}\n"
    )
    with pytest.raises(ScenarioError, match="outside the lab's data folders"):
        check_data_folders(sneaky, [tmp_path / "data"])


def test_an_unreadable_file_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScenarioError, match="cannot read"):
        load(tmp_path / "bad.yaml")
