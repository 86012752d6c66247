"""Health, readiness, metrics, OpenAPI, request ids, problem+json for unknown routes."""

from __future__ import annotations

import httpx

from liveshop.app import create_app


async def test_healthz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client):
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok"}


async def test_readyz_is_503_when_redis_is_unreachable(settings, clock):
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken, clock=clock, background=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["redis"].startswith("error")


async def test_every_response_has_a_request_id(client):
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) >= 16
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
    assert unsafe.headers["x-request-id"] != "bad id\n"


async def test_metrics_count_requests(client):
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert 'liveshop_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text


async def test_openapi_and_docs(client):
    spec = (await client.get("/openapi.json")).json()
    assert "/orders" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_unknown_route_is_problem_json(client):
    r = await client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "http.not_found"
    wrong_method = await client.delete("/healthz")
    assert wrong_method.json()["code"] == "http.method_not_allowed"
