"""What a status callback says (CONTRACT.md §8), decided when its event happens (pure)."""

from __future__ import annotations

import json

from callrec.dates import rfc2822
from callrec.domain.model import (
    CallbackEvent,
    EncryptionDetails,
    Micros,
    Recording,
    RecordingStatus,
)
from callrec.storage.base import OutboxEntry

#: Events beyond Twilio's, named in an extra parameter so an app can tell a resume from a start.
EXTENSION_EVENTS = frozenset({CallbackEvent.PAUSED, CallbackEvent.RESUMED, CallbackEvent.STOPPED})


def entry(
    recording: Recording, event: CallbackEvent, base_url: str, now: Micros, sender: int | None
) -> OutboxEntry | None:
    """The callback this event owes the app, if it asked for one; `sender` is the process to
    send it (the one whose unit of work writes it)."""
    options = recording.options
    if options.callback_url is None or event not in options.callback_events:
        return None
    params = parameters(recording, event, base_url)
    return OutboxEntry.due(
        recording.account_sid, recording.sid, event, options.callback_method,
        options.callback_url, params, now, sender,
    )  # fmt: skip


def parameters(
    recording: Recording, event: CallbackEvent, base_url: str
) -> tuple[tuple[str, str], ...]:
    """The parameters, with the values the REST resource shows at this moment."""
    url = f"{base_url}/2010-04-01/Accounts/{recording.account_sid}/Recordings/{recording.sid}"
    params = [
        ("AccountSid", recording.account_sid),
        ("CallSid", recording.call_sid),
        ("RecordingSid", recording.sid),
        ("RecordingUrl", url),
        ("RecordingStatus", recording.status.value),
        ("RecordingChannels", str(recording.options.channel_count)),
        ("RecordingStartTime", rfc2822(recording.start_time) or ""),
        ("RecordingSource", recording.source.value),
        ("RecordingTrack", recording.options.track.value),
    ]
    if recording.duration is not None:
        params.append(("RecordingDuration", str(recording.duration)))
    if recording.status is RecordingStatus.ABSENT and recording.error_code is not None:
        params.append(("ErrorCode", str(recording.error_code)))
    if recording.encryption is not None and event is CallbackEvent.COMPLETED:
        shown = encryption_details(recording.encryption)
        params.append(("EncryptionDetails", json.dumps(shown, separators=(",", ":"))))
    if event in EXTENSION_EVENTS:
        params.append(("CallrecEvent", event.value))
    return tuple(params)


def encryption_details(details: EncryptionDetails | None) -> dict[str, str] | None:
    """As Twilio shows them, on the resource and in the `completed` callback (CONTRACT.md
    §12.4): what the holder of the private key needs to decrypt the audio."""
    if details is None:
        return None
    return {
        "type": "rsa-aes",
        "public_key_sid": details.public_key_sid,
        "encrypted_cek": details.encrypted_cek,
        "iv": details.iv,
    }
