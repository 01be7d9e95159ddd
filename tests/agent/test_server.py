"""The worker process pieces that need no LiveKit server: the AgentServer registration,
prewarm (models load offline), full voice session construction, the `nova worker` command."""

from __future__ import annotations

from livekit.agents import AgentSession, JobExecutorType, JobProcess

from nova.agent.server import build_session, create_server, prewarm, turn_handling
from nova.agent.state import CallState
from nova.cli import EXTRA_COMMANDS, build_parser, main
from tests.telephony.factories import create_call, meta_for


def test_server_registers_explicit_dispatch_by_agent_name(settings):
    settings.agent_name = "nova-test-agent"
    server = create_server(settings)
    assert server._agent_name == "nova-test-agent"
    assert server.setup_fnc is prewarm
    # Job processes (forkserver) receive the entrypoint and prewarm pickled.
    import pickle

    from nova.agent.server import entrypoint

    assert server._entrypoint_fnc is entrypoint
    assert (
        pickle.loads(  # noqa: S301 - our own bytes
            pickle.dumps(server._entrypoint_fnc)
        )
        is entrypoint
    )
    assert (
        pickle.loads(  # noqa: S301 - our own bytes
            pickle.dumps(server.setup_fnc)
        )
        is prewarm
    )


def test_calls_run_in_threads_unless_set_to_processes(settings):
    assert create_server(settings)._job_executor_type is JobExecutorType.THREAD
    settings.agent_job_executor = "process"
    assert create_server(settings)._job_executor_type is JobExecutorType.PROCESS


def test_job_threads_share_one_set_of_vad_models(settings):
    settings.agent_turn_detector = False
    procs = [
        JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
        for _ in range(2)
    ]
    for proc in procs:
        prewarm(proc)
    assert procs[0].userdata["vad"] is procs[1].userdata["vad"]
    assert procs[0].userdata["vad_sip"] is procs[1].userdata["vad_sip"]


async def test_a_separate_speech_server_gets_the_speech_key_not_the_openai_key(settings):
    from pydantic import SecretStr

    from nova.agent.server import build_stt, build_tts

    settings.openai_api_key = SecretStr("sk-openai-secret")
    row = await create_call()
    meta = meta_for(row)
    assert build_stt(settings, meta)._client.api_key == "sk-openai-secret"
    settings.agent_stt_base_url = settings.agent_tts_base_url = "http://127.0.0.1:8790/v1"
    assert build_stt(settings, meta)._client.api_key == "no-key"
    settings.speech_api_key = SecretStr("speech-key")
    stt, tts = build_stt(settings, meta), build_tts(settings, meta)
    assert stt._client.api_key == tts._client.api_key == "speech-key"
    assert tts._opts.response_format == "pcm"


def test_prewarm_loads_vads_and_the_offline_end_of_turn_model(settings):
    settings.agent_turn_detector = True
    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    prewarm(proc)
    vad, vad_sip = proc.userdata["vad"], proc.userdata["vad_sip"]
    assert vad._opts.activation_threshold == 0.5
    assert vad_sip._opts.activation_threshold == 0.6  # phone lines: noise-robust


async def test_voice_session_from_settings_demo_and_sip(settings, openai_fake):
    settings.agent_stt_model = "gpt-4o-mini-transcribe"
    settings.agent_tts_model = "gpt-4o-mini-tts"
    settings.agent_llm_model = "gpt-4o-mini"
    row = await create_call(mode="sip")
    sip_meta = meta_for(row, mode="sip")
    session = build_session(settings, sip_meta, CallState(meta=sip_meta))
    assert isinstance(session, AgentSession)
    assert session.llm.model == "gpt-4o-mini"
    assert str(session.llm._client.base_url).rstrip("/") == openai_fake.base_url
    assert session.stt._opts.model == "gpt-4o-mini-transcribe"
    assert session.tts._opts.model == "gpt-4o-mini-tts"
    th = turn_handling(settings, sip_meta)
    assert type(th["turn_detection"]).__name__ == "TurnDetector"
    assert th["turn_detection"].model == "turn-detector-v1-mini"  # the local model
    assert th["interruption"]["min_duration"] == 0.8 and th["interruption"]["min_words"] == 2
    demo = turn_handling(settings, meta_for(row, mode="demo"))
    assert "interruption" not in demo
    assert demo["turn_detection"] == "vad"  # demo: VAD endpointing by default
    settings.agent_turn_detection_demo = "eot"
    demo = turn_handling(settings, meta_for(row, mode="demo"))
    assert type(demo["turn_detection"]).__name__ == "TurnDetector"
    settings.agent_turn_detection_sip = "vad"
    assert turn_handling(settings, sip_meta)["turn_detection"] == "vad"
    settings.agent_turn_detection_sip = "eot"
    import nova.agent.server as server_mod

    server_mod._eot_loaded = False  # prewarm could not load the model
    try:
        assert turn_handling(settings, sip_meta)["turn_detection"] == "vad"
    finally:
        server_mod._eot_loaded = None
    settings.agent_turn_detector = False
    assert turn_handling(settings, sip_meta)["turn_detection"] == "vad"
    # Another provider by name goes through LiveKit Inference.
    settings.agent_stt_model = "deepgram/nova-3"
    from nova.agent.server import build_stt

    assert build_stt(settings, sip_meta) == "deepgram/nova-3"


def test_worker_command_is_registered_and_needs_livekit(settings, capsys):
    build_parser()
    assert "worker" in EXTRA_COMMANDS
    settings.livekit_url = None
    assert main(["worker"]) == 2
    assert "LIVEKIT_URL" in capsys.readouterr().err


def test_control_plane_never_imports_livekit_agents():
    import subprocess
    import sys

    code = (
        "import sys; from nova.api.app import create_app; from nova.cli import build_parser; "
        "from nova.core.events import load_plugins; create_app(); build_parser(); load_plugins(); "
        "print('livekit.agents' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_promoted_model_alias_overrides_the_default_llm(settings, openai_fake):
    from nova.agent.server import build_llm

    settings.agent_llm_model = "gpt-4o-mini"
    meta = meta_for(await create_call())
    assert build_llm(settings, meta).model == "gpt-4o-mini"
    promoted = meta.model_copy(update={"llm_model": "ft:gpt-4o-mini:nova:2026-06-11"})
    assert build_llm(settings, promoted).model == "ft:gpt-4o-mini:nova:2026-06-11"
