"""The sandbox provider's hosted pay page: what a buyer sees at the provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from liveshop.deps import RuntimeDep, SessionDep
from liveshop.errors import Problem
from liveshop.payments.sandbox import SandboxProvider
from liveshop.web.templating import page

router = APIRouter(tags=["sandbox provider"], prefix="/sandbox")


def _sandbox(runtime: RuntimeDep) -> SandboxProvider:
    if not isinstance(runtime.payments, SandboxProvider):
        raise Problem(404, "http.not_found", "the sandbox provider is not enabled")
    return runtime.payments


@router.get("/pay/{intent_id}", response_class=HTMLResponse)
async def pay_page(
    intent_id: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> Response:
    intent = await _sandbox(runtime).get_intent(session, intent_id=intent_id)
    return page(request, "sandbox_pay.html", config={}, intent=intent)


@router.post("/pay/{intent_id}/decision")
async def decide(
    intent_id: str,
    decision: Annotated[str, Form(pattern="^(approve|decline)$")],
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Approve or decline; the webhook goes out in the background, then the buyer returns."""
    provider = _sandbox(runtime)
    intent = await provider.decide(session, intent_id=intent_id, approve=decision == "approve")
    return_url = intent.return_url
    await session.commit()
    provider.schedule_delivery(runtime.sessionmaker, runtime.extras["http"])
    target = return_url or f"/sandbox/pay/{intent_id}"
    return RedirectResponse(target, status_code=303)
