"""Live price APIs: em6 (regional, no key), EMI real-time dispatch (key), WITS (OAuth2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from coop import nz
from trading.prices.points import NODE, PricePoint, SourceError

# em6 is regional (14 grid zones), not nodal: each zone's price is stored against the node the
# co-op uses for that zone. Zone 2 is Auckland; the demo co-op's node is PEN0331.
EM6_ZONE_NODES = {
    1: "KOE1101",
    2: "PEN0331",
    3: "HAM0331",
    4: "TRK2201",
    5: "WKM2201",
    6: "RDF2201",
    7: "SFD2201",
    8: "BPE2201",
    9: "HAY2201",
    10: "KIK2201",
    11: "ISL2201",
    12: "BEN2201",
    13: "ROX2201",
    14: "INV2201",
}


def _get_json(url: str, *, timeout: float, **kwargs: Any) -> Any:
    try:
        response = requests.get(url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise SourceError(f"{url} timed out after {timeout} s") from exc
    except requests.RequestException as exc:
        raise SourceError(f"{url} did not answer: {exc}") from exc
    if response.status_code != 200:
        raise SourceError(f"{url} answered HTTP {response.status_code}")
    if "json" not in response.headers.get("Content-Type", ""):
        raise SourceError(
            f"{url} answered {response.headers.get('Content-Type') or 'no content type'}, not JSON"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise SourceError(f"{url} answered with malformed JSON") from exc


def _price(value: object) -> Decimal:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise SourceError(f"price {value!r} is not a number") from None
    if not price.is_finite():
        raise SourceError(f"price {value!r} is not finite")
    return price


def _point(node: str, instant: dt.datetime, price: object, kind: str, source: str) -> PricePoint:
    day, period = nz.trading_period_of(instant)
    return PricePoint(
        node, day, period, nz.trading_period_start(day, period), _price(price), kind, source
    )


class Em6:
    name = "em6"

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url, self.timeout = url, timeout

    def fetch(self) -> tuple[list[PricePoint], list[str]]:
        document = _get_json(self.url, timeout=self.timeout)
        items = document.get("items") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise SourceError("em6 answer has no items list")
        points, skipped = [], []
        for item in items:
            node = EM6_ZONE_NODES.get(item.get("grid_zone_id"))
            if node is None:
                skipped.append(f"unknown grid zone {item.get('grid_zone_id')!r}")
                continue
            try:
                instant = _aware(
                    dt.datetime.fromisoformat(str(item["timestamp"]).replace("Z", "+00:00"))
                )
            except (KeyError, ValueError):
                raise SourceError(f"em6 item without a valid timestamp: {item!r}"[:200]) from None
            points.append(_point(node, instant, item.get("price"), "dispatch", self.name))
        return points, skipped


def _aware(instant: dt.datetime) -> dt.datetime:
    """A feed's instant must say its offset: a bare wall time could be NZST, NZDT or UTC, and a
    guess would file the price under the wrong trading period. ValueError makes it the feed's
    fault (SourceError), so the poll falls back to the next source."""
    if instant.tzinfo is None:
        raise ValueError("no UTC offset")
    return instant


class EmiRealTime:
    name = "emi"

    def __init__(self, url: str, key: str, nodes: list[str], timeout: float = 10) -> None:
        self.url, self.key, self.nodes, self.timeout = url, key, nodes, timeout

    def fetch(self) -> tuple[list[PricePoint], list[str]]:
        node_filter = " or ".join(f"PointOfConnectionCode eq '{n}'" for n in self.nodes)
        rows = _get_json(
            self.url,
            timeout=self.timeout,
            params={"$filter": node_filter},
            headers={"Ocp-Apim-Subscription-Key": self.key},
        )
        if not isinstance(rows, list):
            raise SourceError("EMI answer is not a list of dispatch prices")
        points, skipped = [], []
        for row in rows:
            node = str(row.get("PointOfConnectionCode", ""))
            if not NODE.match(node) or (self.nodes and node not in self.nodes):
                skipped.append(f"unknown node {node!r}")
                continue
            try:
                # NZ local time without an offset: attach the zone, not a fixed offset.
                local = dt.datetime.fromisoformat(str(row["FiveMinuteIntervalDatetime"])).replace(
                    tzinfo=nz.NZ
                )
            except (KeyError, ValueError):
                raise SourceError(f"EMI row without a valid interval time: {row!r}"[:200]) from None
            points.append(
                _point(
                    node,
                    local.astimezone(dt.UTC),
                    row.get("DollarsPerMegawattHour"),
                    "dispatch",
                    self.name,
                )
            )
        return points, skipped


class Wits:
    name = "wits"
    KINDS = {
        "RTD": "dispatch",
        "RTP": "dispatch",
        "PRSL": "dispatch",
        "PRSS": "dispatch",
        "Interim": "interim",
        "Final": "final",
    }

    def __init__(
        self,
        base_url: str,
        client_id: str,
        secret: str,
        nodes: list[str],
        schedule: str = "RTD",
        timeout: float = 10,
    ) -> None:
        self.base_url, self.client_id, self.secret = base_url.rstrip("/"), client_id, secret
        self.nodes, self.schedule, self.timeout = nodes, schedule, timeout

    def token(self) -> str:
        try:
            response = requests.post(
                f"{self.base_url}/login/oauth2/token",
                timeout=self.timeout,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.secret,
                },
            )
            response.raise_for_status()
            return response.json()["access_token"]
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise SourceError(f"WITS login failed: {exc}") from exc

    def parse(self, document: object) -> tuple[list[PricePoint], list[str]]:
        prices = document.get("prices") if isinstance(document, dict) else None
        if not isinstance(prices, list):
            raise SourceError("WITS answer has no prices list")
        points, skipped = [], []
        for row in prices:
            node = str(row.get("node", ""))
            if not NODE.match(node) or (self.nodes and node not in self.nodes):
                skipped.append(f"unknown node {node!r}")
                continue
            try:
                instant = _aware(dt.datetime.fromisoformat(str(row["tradingDateTime"])))
            except (KeyError, ValueError):
                raise SourceError(
                    f"WITS row without a valid tradingDateTime: {row!r}"[:200]
                ) from None
            kind = self.KINDS.get(str(row.get("schedule", self.schedule)), "dispatch")
            points.append(_point(node, instant, row.get("price"), kind, self.name))
        return points, skipped

    def fetch(self) -> tuple[list[PricePoint], list[str]]:
        document = _get_json(
            f"{self.base_url}/api/market-prices/v1/schedules/{self.schedule}/prices",
            timeout=self.timeout,
            headers={"Authorization": f"Bearer {self.token()}"},
            params={"marketType": "E", "nodes": ",".join(self.nodes)},
        )
        return self.parse(document)
