// "Join call as test caller": fetch a participant token from /token and join the agent's
// LiveKit room over WebRTC with livekit-client.
import { Room, RoomEvent, Track, type RemoteTrack } from "livekit-client";
import { api, ApiError } from "./api";

export interface JoinHandle {
  toggleMute: () => Promise<boolean>;
  hangUp: () => Promise<void>;
}

interface Callbacks {
  onStatus: (text: string) => void;
  onSpeaking: (agentSpeaking: boolean) => void;
  onDisconnected: () => void;
}

interface TokenResponse {
  server_url: string;
  participant_token: string;
  room_name: string;
}

const CONNECT_TIMEOUT_MS = 10000;

async function microphone(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot use a microphone here (a secure https:// page is required).");
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((t) => t.stop());
  } catch (err) {
    const name = (err as DOMException).name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new Error("Microphone permission was denied. Allow microphone access for this site and try again.");
    }
    if (name === "NotFoundError") throw new Error("No microphone was found. Connect one and try again.");
    throw new Error(`Could not open the microphone: ${(err as Error).message}`);
  }
}

export async function joinCall(contextId: string, cb: Callbacks): Promise<JoinHandle> {
  cb.onStatus("Requesting a room token…");
  let token: TokenResponse;
  try {
    token = await api<TokenResponse>("POST", "/token", { context_id: contextId, participant_name: "Test Caller" });
  } catch (err) {
    throw new Error(`Could not get a room token: ${err instanceof ApiError ? err.message : String(err)}`);
  }
  cb.onStatus("Token received. Asking for your microphone…");
  await microphone();

  const room = new Room({ adaptiveStream: true, dynacast: true });
  room
    .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => {
      if (track.kind === Track.Kind.Audio) {
        const el = track.attach();
        el.dataset.nova = "agent-audio";
        document.body.append(el);
      }
    })
    .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => track.detach().forEach((el) => el.remove()))
    .on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
      cb.onSpeaking(speakers.some((p) => p.identity !== room.localParticipant.identity));
    })
    .on(RoomEvent.Disconnected, () => {
      cb.onStatus("Disconnected.");
      cb.onDisconnected();
    });

  cb.onStatus(`Connecting to the voice server (${token.server_url})…`);
  try {
    await Promise.race([
      room.connect(token.server_url, token.participant_token),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), CONNECT_TIMEOUT_MS)),
    ]);
  } catch (err) {
    void room.disconnect();
    throw new Error(
      `Could not connect to the voice server at ${token.server_url}: ${(err as Error).message || "unreachable"}. ` +
        "The room token is valid, but the LiveKit server did not answer — check that LiveKit is running and reachable from this browser.",
    );
  }
  await room.localParticipant.setMicrophoneEnabled(true);
  cb.onStatus(`Connected to ${token.room_name}. Say hello — the agent speaks first.`);
  return {
    toggleMute: async () => {
      const enabled = room.localParticipant.isMicrophoneEnabled;
      await room.localParticipant.setMicrophoneEnabled(!enabled);
      return enabled; // now muted when it was enabled
    },
    hangUp: async () => {
      await room.disconnect();
    },
  };
}
