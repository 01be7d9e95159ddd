"""All of Nova's configuration, in one pydantic-settings class.

Every field is read from the environment with the ``NOVA_`` prefix unless it carries an
explicit alias (the provider-standard names such as ``OPENAI_API_KEY``). Every variable is
listed, with a comment, in ``.env.example``. Sections are kept in the order of that file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development default is long enough for HS256 (PyJWT warns below 32 bytes) but is a
# known placeholder: outside development it is refused (nova.core.secret_strength).
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-before-deploying"  # noqa: S105


# "COUNT/SECONDS" rate-limit tiers, comma-separated.
_TIERS = r"^[0-9]+/[0-9]+(,[0-9]+/[0-9]+)*$"


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOVA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- core -----------------------------------------------------------------------------
    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./nova.db"
    db_pool_size: int = 20
    db_max_overflow: int = 20
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Processes `nova serve` runs (uvicorn workers); above 1 needs PostgreSQL and Redis.
    workers: int = Field(
        default=1, ge=1, validation_alias=_alias("NOVA_WORKERS", "NOVA_WEB_CONCURRENCY")
    )
    log_level: str = "INFO"
    log_json: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    background_runner: bool = True
    pump_interval_seconds: float = 0.5
    # After a wake-up, wait this long before claiming, so tasks committed together under
    # load are claimed in one batch (adds at most this much latency when idle).
    pump_wake_debounce_seconds: float = 0.01
    # PostgreSQL NOTIFY/LISTEN between processes: a transaction that queued tasks wakes the
    # pumps of other processes at once instead of at their next poll. Unset = on when
    # `nova serve` runs several workers; set true when separate replicas share a database.
    # It costs one statement per such transaction, so a lone process leaves it off.
    pump_notify: bool | None = None

    @property
    def pump_notify_enabled(self) -> bool:
        return self.workers > 1 if self.pump_notify is None else self.pump_notify

    pump_concurrency: int = 32
    pump_batch_size: int = 64
    task_lease_seconds: float = 60.0
    # Retention (nova.core.retention, every 10 minutes): finished tasks (done or dead) and
    # events with no task left are deleted this many days after they happened; 0 keeps them.
    outbox_retention_days: float = Field(default=14, ge=0)
    redis_url: str | None = None

    # --- auth -----------------------------------------------------------------------------
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "nova"
    jwt_audience: str = "nova-api"
    jwt_ttl_seconds: int = 7 * 24 * 3600
    password_min_length: int = 6
    password_max_length: int = 1024
    reset_code_ttl_seconds: int = 600
    reset_code_max_attempts: int = 5
    forgot_password_per_hour: int = 3
    # Threads that hash and verify passwords (argon2id), off the event loop.
    password_hash_threads: int = Field(default=2, ge=1)
    # Login attempts allowed, as "COUNT/SECONDS" tiers (each one a sliding window; the
    # longer tiers make the wait grow). Per account and client address, per account from any
    # address, per client address over every account. A successful login clears the first,
    # a password reset the second; none of them is a permanent lockout.
    login_limits_account_client: str = Field(default="5/60,10/900,20/3600", pattern=_TIERS)
    login_limits_account: str = Field(default="50/900,200/86400", pattern=_TIERS)
    login_limits_client: str = Field(default="30/60,300/3600", pattern=_TIERS)

    # --- mail -----------------------------------------------------------------------------
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "Nova <no-reply@nova.local>"

    # --- MCP (the /mcp mount on the control plane; `nova mcp` reads NOVA_API_URL/TOKEN) ----
    mcp_enabled: bool = True
    # Base URL the /mcp tools call; unset = the same app, in-process (no network hop).
    mcp_api_url: str | None = None

    # --- calls ----------------------------------------------------------------------------
    feature_calls_auth_required: bool = Field(
        default=False,
        validation_alias=_alias("FEATURE_CALLS_AUTH_REQUIRED", "NOVA_FEATURE_CALLS_AUTH_REQUIRED"),
    )
    calls_rate_limit: int = 5
    calls_rate_window_seconds: int = 60
    call_job_ttl_seconds: int = 600
    reserve_minutes_per_call: int = 1
    max_call_seconds: int = 900
    # Dial pipeline: a call recorded but not yet dispatched (the process died in between)
    # is dispatched by the pump this long after it was recorded.
    dispatch_recovery_seconds: int = 60
    # The reconciler (every minute) ends a call still in progress this long after its
    # maximum duration, or once its LiveKit room is gone (calls older than this).
    reconcile_grace_seconds: int = 120
    idempotency_ttl_seconds: int = 24 * 3600
    scrape_timeout_seconds: float = 5.0
    scrape_max_bytes: int = 1_048_576
    scrape_cache_ttl_seconds: int = 3600
    brief_llm_timeout_seconds: float = 8.0
    # Subnets exempted from the SSRF guard (private deployments and tests only).
    ssrf_allow_cidrs: list[str] = Field(default_factory=list)

    # --- LLM (OpenAI-compatible: OpenAI, Groq, vLLM, Ollama…) --------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("OPENAI_API_KEY", "NOVA_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=_alias("OPENAI_BASE_URL", "NOVA_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"

    # --- quality (LLM-as-judge scoring, nightly fine-tune) ----------------------------------
    # Judge model; empty means llm_model. Scoring needs OPENAI_API_KEY or OPENAI_BASE_URL.
    quality_judge_model: str | None = None
    quality_judge_timeout_seconds: float = 30.0
    # Scoring attempts per call (provider errors and invalid judge output) and the waits
    # between them in seconds (the last one repeats).
    quality_max_attempts: int = 5
    quality_retry_delays: list[float] = Field(default_factory=lambda: [30.0, 120.0, 600.0, 1800.0])
    # Longest transcript sent to the judge (characters; the end of the call is kept).
    quality_max_transcript_chars: int = 24_000
    finetune_enabled: bool = False
    # Nightly run time (UTC).
    finetune_hour: int = 2
    finetune_minute: int = 30
    # Model fine-tuned and used as the baseline until a candidate is promoted (llm_model if empty).
    finetune_base_model: str | None = None
    finetune_suffix: str = "nova"
    # Calls scored at least this overall (0-100) within the lookback window are training data.
    finetune_min_score: int = 80
    finetune_lookback_days: int = 30
    # Fewest training examples that justify a job; most examples per job.
    finetune_min_examples: int = 10
    finetune_max_examples: int = 1000
    # Share of the selected calls kept out of training for the evaluation (at most eval_max).
    finetune_heldout_fraction: float = 0.2
    finetune_eval_max_calls: int = 10
    finetune_eval_max_turns: int = 6
    # Candidate must beat the baseline by more than this (overall points) to be promoted.
    finetune_promote_margin: float = 0.0
    # Job polling interval (s) and how long a job may take before the run is abandoned (h).
    finetune_poll_seconds: float = 300.0
    finetune_max_hours: float = 48.0

    # --- LiveKit --------------------------------------------------------------------------
    livekit_url: str | None = Field(
        default=None, validation_alias=_alias("LIVEKIT_URL", "NOVA_LIVEKIT_URL")
    )
    livekit_api_key: str | None = Field(
        default=None, validation_alias=_alias("LIVEKIT_API_KEY", "NOVA_LIVEKIT_API_KEY")
    )
    livekit_api_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("LIVEKIT_API_SECRET", "NOVA_LIVEKIT_API_SECRET")
    )
    agent_name: str = "nova-sales-agent"
    dial_mode: Literal["demo", "sip"] = "demo"
    sip_outbound_trunk_id: str | None = None
    # A TOML file of country calling profiles replacing/adding the built-in ones key by key
    # (see nova/compliance/profiles.toml for the shape).
    compliance_profiles_file: str | None = None
    token_ttl_seconds: int = 600

    # --- agent worker ---------------------------------------------------------------------
    worker_secret: SecretStr = SecretStr("dev-worker-secret-change-me")
    worker_report_max_skew_seconds: int = 300
    # Where workers send signed reports; defaults to <public_url>/internal/worker.
    worker_report_url: str | None = None
    worker_report_timeout_seconds: float = 5.0
    worker_report_attempts: int = 3
    # Speech stack (livekit openai plugin; any OpenAI-compatible base URL).
    agent_llm_model: str | None = None  # falls back to llm_model
    agent_stt_model: str = "gpt-4o-mini-transcribe"
    agent_stt_base_url: str | None = None  # falls back to OPENAI_BASE_URL
    agent_tts_model: str = "gpt-4o-mini-tts"
    agent_tts_base_url: str | None = None  # falls back to OPENAI_BASE_URL
    agent_tts_voice: str = "alloy"
    agent_tts_voice_ar: str = "alloy"
    # The offline end-of-turn model (livekit local inference); VAD endpointing when off.
    agent_turn_detector: bool = True
    # Which end-of-turn detection each mode uses: "vad" (silence) or "eot" (the model above).
    agent_turn_detection_demo: Literal["vad", "eot"] = "vad"
    agent_turn_detection_sip: Literal["vad", "eot"] = "eot"
    # What to do when the lead's voicemail answers: leave_message | hang_up.
    agent_voicemail_action: Literal["leave_message", "hang_up"] = "hang_up"
    # Phone calls: livekit-agents' answering-machine detection before the greeting.
    agent_amd: bool = True
    # How the worker runs calls: a thread per call in one process (models shared, ~MBs per
    # call) or a process per call (isolated, ~200 MB each). bench/README.md has the figures.
    agent_job_executor: Literal["thread", "process"] = "thread"
    # Seconds the demo agent waits for the browser test caller before giving up.
    agent_caller_wait_seconds: int = 300
    # SIP dial ring timeout, seconds.
    agent_ring_timeout_seconds: int = 45
    # `nova speech` (offline STT/TTS, local-speech extra). The key is what it requires and
    # what the worker sends to AGENT_STT_BASE_URL / AGENT_TTS_BASE_URL (never the OpenAI key).
    speech_host: str = "127.0.0.1"
    speech_port: int = 8790
    speech_threads: int = 2
    speech_api_key: SecretStr | None = None

    # --- evals (simulated calls against personas) --------------------------------------------
    # Conversations one eval run simulates at once (each is the agent and a persona LLM).
    eval_concurrency: int = Field(default=8, ge=1, le=100)
    # Model playing the persona (the lead); empty means llm_model.
    eval_persona_model: str | None = None
    # One simulated conversation (agent, persona and judge) must finish within this.
    eval_conversation_timeout_seconds: float = Field(default=180.0, gt=0)
    # A whole run (the background task's own limit).
    eval_run_timeout_seconds: float = Field(default=3600.0, gt=0)
    # Prices used to show what a run cost in LLM tokens, USD per million tokens.
    eval_usd_per_million_input_tokens: float = Field(default=0.15, ge=0)
    eval_usd_per_million_output_tokens: float = Field(default=0.60, ge=0)
    # Custom personas an account may keep.
    eval_max_custom_personas: int = Field(default=50, ge=0)
    # Evals one account may have queued or running at once (each spends LLM tokens).
    eval_max_active_per_account: int = Field(default=3, ge=1)

    # --- webhooks (outbound) --------------------------------------------------------------
    webhook_ca_bundle: str | None = None
    # Subnets webhook URLs may point at despite the SSRF guard (with ssrf_allow_cidrs).
    webhook_allow_cidrs: list[str] = Field(default_factory=list)
    webhook_timeout_seconds: float = 10.0
    webhook_max_per_user: int = 25
    webhook_concurrency: int = 64
    webhook_batch_size: int = 64
    webhook_lease_seconds: float = 60.0
    webhook_poll_seconds: float = 1.0
    webhook_test_rate_limit: int = 10
    # Succeeded and failed deliveries are deleted this many days after they were created
    # (GET /v1/webhooks/{id}/deliveries shows no older ones); 0 keeps them.
    webhook_delivery_retention_days: float = Field(default=30, ge=0)

    # --- billing --------------------------------------------------------------------------
    stripe_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("STRIPE_API_KEY", "NOVA_STRIPE_API_KEY")
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=_alias("STRIPE_WEBHOOK_SECRET", "NOVA_STRIPE_WEBHOOK_SECRET"),
    )
    stripe_api_base: str | None = None
    # The web app's card form (Stripe.js); unset = no card form. See .env.example.
    stripe_publishable_key: str | None = Field(
        default=None,
        validation_alias=_alias("STRIPE_PUBLISHABLE_KEY", "NOVA_STRIPE_PUBLISHABLE_KEY"),
    )
    stripe_js_url: str = "https://js.stripe.com/v3/"
    trial_days: int = 7
    trial_minutes: int = 10
    # Plan catalogue override: a JSON list of plans (see nova/billing/plans.py for fields).
    billing_plans: list[dict] | None = None
    # Network retries the Stripe client makes on connection errors / 409 / 5xx.
    stripe_max_network_retries: int = 2
    # Report each call's overage seconds to this Stripe billing meter (event name); off if unset.
    stripe_meter_event_name: str | None = None
    # Pending minute reservations older than this are released by the sweeper (lost calls).
    reservation_max_age_seconds: int = 6 * 3600
    referral_commission_rate: float = Field(default=0.20, ge=0, le=1)
    referral_commission_months: int = Field(default=12, ge=0)
    referral_payout_min_cents: int = Field(default=5000, ge=1)
    # Base of the shareable referral link (defaults to NOVA_PUBLIC_URL).
    referral_share_base_url: str | None = None
    ziina_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("ZIINA_API_KEY", "NOVA_ZIINA_API_KEY")
    )
    ziina_api_base: str = "https://api-v2.ziina.com/api"
    ziina_test_mode: bool = False
    # Shared secret of the Ziina webhook (X-Hmac-Signature); unset = the receiver answers 503.
    ziina_webhook_secret: SecretStr | None = None
    # Where Ziina sends the payer afterwards (defaults under NOVA_PUBLIC_URL).
    ziina_success_url: str | None = None
    ziina_cancel_url: str | None = None

    # --- Twilio (SMS for links; platform account) ------------------------------------------
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=_alias("TWILIO_ACCOUNT_SID", "NOVA_TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=_alias("TWILIO_AUTH_TOKEN", "NOVA_TWILIO_AUTH_TOKEN")
    )
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None

    # --- crypto ---------------------------------------------------------------------------
    encryption_key: SecretStr | None = None

    # --- gated surfaces: voice cloning + bring-your-own Twilio ------------------------------
    voice_provider_url: str = "https://api.elevenlabs.io"
    voice_provider_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_alias("ELEVENLABS_API_KEY", "NOVA_VOICE_PROVIDER_API_KEY"),
    )
    voice_provider_model: str = "eleven_multilingual_v2"
    voice_provider_timeout_seconds: float = 30.0
    voice_enroll_window_seconds: int = 24 * 3600
    voice_clone_max_attempts: int = 5
    voice_country_header: str = "CF-IPCountry"
    byo_twilio_api_base: str | None = None
    byo_twilio_timeout_seconds: float = 15.0
    byo_twilio_otp_sender: str | None = None
    byo_twilio_otp_ttl_seconds: int = 600
    byo_twilio_otp_max_attempts: int = 5
    byo_twilio_otp_per_10min: int = 3
    byo_twilio_otp_per_day: int = 10

    # --- call records: transcripts, analysis, latency, analytics (nova.records) -----------
    # Days an account's transcripts and analyses are kept after a call (accounts can set
    # their own); 0 keeps them forever.
    call_record_retention_days: int = Field(default=90, ge=0)
    # Post-call analysis model (llm_model when empty) and its attempts / timeout.
    analysis_model: str | None = None
    analysis_timeout_seconds: float = 30.0
    analysis_max_attempts: int = 4
    # Seconds a change to a call waits before its day's analytics rollup is rebuilt
    # (changes inside one window share one rebuild).
    analytics_rollup_window_seconds: float = Field(default=5.0, ge=0)
    # Call recordings (off per account until enabled): LiveKit Egress uploads an audio-only
    # recording of the room to this S3-compatible bucket; Nova hands out presigned links.
    recording_s3_bucket: str | None = None
    recording_s3_region: str = "us-east-1"
    # Endpoint of an S3-compatible store (MinIO, R2, …); empty = AWS.
    recording_s3_endpoint: str | None = None
    recording_s3_access_key: str | None = None
    recording_s3_secret_key: SecretStr | None = None
    recording_s3_force_path_style: bool = False
    recording_s3_prefix: str = "recordings"
    # Lifetime of a presigned recording link (seconds).
    recording_url_ttl_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    # Where `nova serve --workers N` keeps the workers' Prometheus values (emptied at
    # start); unset = a fresh temporary directory.
    metrics_dir: str | None = None

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "development":
            from nova.core import secret_strength

            for name, value in (
                ("NOVA_JWT_SECRET", self.jwt_secret),
                ("NOVA_WORKER_SECRET", self.worker_secret),
            ):
                why = secret_strength.problem(value.get_secret_value())
                if why:
                    raise ValueError(
                        f"{name} {why}; set a long random secret before running outside "
                        "development (`nova secrets generate` prints some)"
                    )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def livekit_configured(self) -> bool:
        return bool(self.livekit_url and self.livekit_api_key and self.livekit_api_secret)

    @property
    def recordings_configured(self) -> bool:
        return bool(
            self.recording_s3_bucket
            and self.recording_s3_access_key
            and self.recording_s3_secret_key
            and self.livekit_configured
        )

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None


@lru_cache
def get_settings() -> Settings:
    return Settings()
