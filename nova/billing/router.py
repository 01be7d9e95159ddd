"""HTTP surface of billing (``/billing``) and referrals (``/referrals``)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Query, Request, status

from nova.api.app import LIFESPAN_HOOKS
from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.api.params import MAX_OFFSET
from nova.billing import referrals, service, stripe_client
from nova.billing.schemas import (
    CreatePaymentOut,
    CreatePaymentRequest,
    EarningsOut,
    PaymentConfigOut,
    PayoutOut,
    PayoutRequest,
    PayoutsOut,
    PlansOut,
    ReferralCodeOut,
    ReferralListOut,
    ReferralStatsOut,
    SetupIntentOut,
    StripeJsConfig,
    SubscribeOut,
    SubscribeRequest,
    SubscriptionOut,
    UsageOut,
    WebhookAck,
)

router = APIRouter(prefix="/billing", tags=["billing"])


@asynccontextmanager
async def _close_stripe_clients(_app: FastAPI):
    yield
    await stripe_client.aclose()


if _close_stripe_clients not in LIFESPAN_HOOKS:
    LIFESPAN_HOOKS.append(_close_stripe_clients)

referrals_router = APIRouter(prefix="/referrals", tags=["referrals"])

Limit = Query(50, ge=1, le=200)
Offset = Query(0, ge=0, le=MAX_OFFSET)


@router.get("/plans", response_model=PlansOut)
async def plans(settings: SettingsDep):
    return service.plans_out(settings)


@router.get("/config", response_model=PaymentConfigOut)
async def payment_config(settings: SettingsDep):
    """How the web app can take payment here: Stripe.js card form, Ziina redirect, or none."""
    stripe_ready = settings.stripe_api_key is not None and settings.stripe_publishable_key
    return PaymentConfigOut(
        stripe=StripeJsConfig(
            publishable_key=settings.stripe_publishable_key, js_url=settings.stripe_js_url
        )
        if stripe_ready
        else None,
        ziina=settings.ziina_api_key is not None,
    )


@router.get("/usage", response_model=UsageOut)
async def usage(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    account = await service.account_for(session, settings, user)
    return service.usage_out(settings, account)


@router.get("/subscription", response_model=SubscriptionOut | None)
async def subscription(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    account = await service.account_for(session, settings, user, for_update=False)
    return service.subscription_out(settings, account)


@router.post("/subscribe", response_model=SubscribeOut)
async def subscribe(
    body: SubscribeRequest, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    return await service.subscribe(session, settings, user, body.plan, body.payment_method_id)


@router.post("/setup-intent", response_model=SetupIntentOut)
async def setup_intent(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    return await service.setup_intent(session, settings, user)


@router.post("/create-payment", response_model=CreatePaymentOut)
async def create_payment(
    body: CreatePaymentRequest, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    return await service.create_payment(session, settings, user, body.plan_id)


@router.post("/cancel", response_model=SubscriptionOut)
async def cancel(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    return await service.cancel(session, settings, user)


@router.post("/webhook", response_model=WebhookAck, include_in_schema=True)
async def webhook(request: Request, session: SessionDep, settings: SettingsDep):
    payload = await request.body()
    duplicate, outcome = await service.handle_webhook(
        session, settings, payload, request.headers.get("stripe-signature")
    )
    return WebhookAck(duplicate=duplicate, outcome=outcome)


@router.post("/ziina/webhook", response_model=WebhookAck)
async def ziina_webhook(request: Request, session: SessionDep, settings: SettingsDep):
    payload = await request.body()
    outcome = await service.handle_ziina_webhook(
        session, settings, payload, request.headers.get("x-hmac-signature")
    )
    return WebhookAck(outcome=outcome)


# --- referrals ---------------------------------------------------------------------------------


@referrals_router.get("/code", response_model=ReferralCodeOut)
async def referral_code(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    return await referrals.code_out(session, settings, user)


@referrals_router.get("/stats", response_model=ReferralStatsOut)
async def referral_stats(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    return await referrals.stats(session, settings, user)


@referrals_router.get("/list", response_model=ReferralListOut)
async def referral_list(
    user: CurrentUser, session: SessionDep, limit: int = Limit, offset: int = Offset
):
    return await referrals.referral_list(session, user, limit, offset)


@referrals_router.get("/earnings", response_model=EarningsOut)
async def referral_earnings(
    user: CurrentUser, session: SessionDep, limit: int = Limit, offset: int = Offset
):
    return await referrals.earnings(session, user, limit, offset)


@referrals_router.post("/payout", response_model=PayoutOut, status_code=status.HTTP_201_CREATED)
async def referral_payout(
    body: PayoutRequest, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    return await referrals.request_payout(session, settings, user, body.amount_cents, body.method)


@referrals_router.get("/payouts", response_model=PayoutsOut)
async def referral_payouts(
    user: CurrentUser, session: SessionDep, limit: int = Limit, offset: int = Offset
):
    return await referrals.payouts(session, user, limit, offset)
