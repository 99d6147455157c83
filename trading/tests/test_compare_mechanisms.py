import json
from io import StringIO

from django.core.management import call_command


def test_compare_mechanisms_on_a_simulated_community():
    out = StringIO()
    call_command("compare_mechanisms", homes=10, days=2, stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["mechanism"] for r in rows] == ["uniform", "pay_as_bid", "mid_market", "time_value"]
    by = {r["mechanism"]: r for r in rows}
    assert by["uniform"]["traded_kwh"] > 0
    assert (
        by["uniform"]["traded_kwh"] >= by["mid_market"]["traded_kwh"]
    )  # the auction maximises volume
    assert by["mid_market"]["mean_price_c"] == 20.5  # midpoint of 29 c retail and 12 c buy-back
    assert by["time_value"]["community_saving_nzd"] < by["uniform"]["community_saving_nzd"]
    for r in rows:
        assert 12 <= r["mean_price_c"] <= 29
