"""Synthetic agent traces for the mining tests: tools and sessions built in Python.

Three chains repeat under noise:

* research: ``search`` then ``fetch`` of every url it returned (a fan-out), in s1..s4;
* orders: ``lookup_user`` then ``list_orders`` (``user_id`` from ``/user/id``) then
  ``refund`` whose ``order_id`` is ``/orders/0/id`` in s1..s3 and ``/orders/1/id`` in
  s4..s6 (one argument wired two ways: two flows);
* ``lookup_user`` and ``list_orders`` are tools of both orders chains.

Noise: unrelated ``clock`` calls between chain calls, failed calls, and sessions too
few to reach the support threshold (``weather`` in s1, s2).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dagwright import tool
from dagwright.traces import TraceCall


class Hit(BaseModel):
    url: str
    title: str


class Hits(BaseModel):
    results: list[Hit]
    urls: list[str]


class Page(BaseModel):
    url: str
    text: str


class User(BaseModel):
    id: str
    email: str


class UserOut(BaseModel):
    user: User


class Order(BaseModel):
    id: str
    total: int


class Orders(BaseModel):
    orders: list[Order]


class Refund(BaseModel):
    refund_id: str
    status: str


class Now(BaseModel):
    now: str


class Forecast(BaseModel):
    city: str
    summary: str


@tool
def search(query: str, limit: int = 3) -> Hits:
    """Search the web."""
    urls = [f"https://{query.replace(' ', '-')}.example/{i}" for i in range(limit)]
    return Hits(results=[Hit(url=u, title=f"{query} {i}") for i, u in enumerate(urls)], urls=urls)


@tool
def fetch(url: str) -> Page:
    """Fetch a page."""
    return Page(url=url, text=f"text of {url}")


@tool
def lookup_user(email: str) -> UserOut:
    """Find a user by email."""
    return UserOut(user=User(id="user-" + email.split("@", maxsplit=1)[0], email=email))


@tool
def list_orders(user_id: str) -> Orders:
    """A user's orders."""
    return Orders(orders=[Order(id=f"{user_id}-order-{i}", total=1000 + i) for i in range(2)])


@tool
def refund(order_id: str, reason: str) -> Refund:
    """Refund an order."""
    return Refund(refund_id="refund-" + order_id, status="ok")


@tool
def clock(zone: str) -> Now:
    """The time in a zone (noise: nothing reads it)."""
    return Now(now=f"12:00 {zone}")


@tool
def geocode(city: str) -> Forecast:
    """Noise tool: a weather summary for a city."""
    return Forecast(city=city, summary=f"sunny in {city}")


TOOLS = [search, fetch, lookup_user, list_orders, refund, clock, geocode]


def _result(fn: Any, **arguments: Any) -> dict[str, Any]:
    out: dict[str, Any] = fn(**arguments).model_dump(mode="json")
    return out


class Session:
    """Builds one session's calls with increasing ``seq``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[TraceCall] = []

    def call(self, fn: Any, **arguments: Any) -> dict[str, Any]:
        result = _result(fn, **arguments)
        self.calls.append(TraceCall(self.name, len(self.calls) * 10, fn.name, arguments, result))
        return result

    def fail(self, name: str, **arguments: Any) -> None:
        self.calls.append(
            TraceCall(self.name, len(self.calls) * 10, name, arguments, None, "timeout")
        )


def research(s: Session, query: str) -> None:
    hits = s.call(search, query=query, limit=3)
    s.call(clock, zone="UTC")
    for url in hits["urls"]:
        s.call(fetch, url=url)


def orders(s: Session, email: str, which: int) -> None:
    user = s.call(lookup_user, email=email)
    s.fail("refund", order_id="nope", reason="early")
    got = s.call(list_orders, user_id=user["user"]["id"])
    s.call(clock, zone="CET")
    s.call(refund, order_id=got["orders"][which]["id"], reason="damaged")


def sessions() -> list[list[TraceCall]]:
    """Six sessions, each a list of calls in order."""
    built: list[list[TraceCall]] = []
    for i in range(1, 7):
        s = Session(f"s{i}")
        if i <= 2:
            s.call(geocode, city=f"Paris{i}")
            s.call(fetch, url=f"https://weather.example/Paris{i}")
        if i <= 4:
            research(s, f"topic {i}")
        orders(s, f"customer{i}@shop.example", 0 if i <= 3 else 1)
        built.append(s.calls)
    return built


def calls() -> list[TraceCall]:
    """Every call of :func:`sessions`, session after session."""
    return [c for session in sessions() for c in session]
