"""The sign-up form's proof of work (ALTCHA, through the `altcha` package): a challenge signed
with the site's key that a browser solves in about a second, and the check of a solution. A
solution is good once (the store remembers spent ones until they expire) and only while its
challenge is fresh; the clock is passed in."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final, cast

from altcha.v1 import (
    ChallengeOptions,
    PayloadType,
    create_challenge,
    extract_params,
    verify_solution,
)

from digest.tokens import signing_keys

# A challenge is solved within this long of being handed out (a page left open longer gets a
# fresh one from the widget's script).
FRESH = dt.timedelta(minutes=20)
ALGORITHM: Final = "SHA-256"
# A solution's size at most: base64 of a JSON object of five short fields.
MAX_PAYLOAD_CHARS = 2000


def _key(secret: str) -> bytes:
    """The HMAC key challenges are signed with: derived from a DIGEST_SECRET_KEY key for this
    one purpose (a challenge's signature never doubles as a link's)."""
    return hmac.digest(secret.encode("utf-8"), b"digest.proof-of-work", "sha256")


def new_challenge(secret: str, now: dt.datetime, max_number: int) -> dict[str, Any]:
    """A new challenge, as the widget's script reads it (algorithm, challenge, maxNumber,
    salt, signature), signed with the first of the site's keys."""
    options = ChallengeOptions(
        algorithm=ALGORITHM,
        max_number=max_number,
        hmac_key=_key(signing_keys(secret)[0]),
        expires=now + FRESH,
    )
    made = create_challenge(options)
    found: dict[str, Any] = made.to_dict()
    return found


@dataclass(frozen=True, slots=True)
class Proof:
    """A solution that checked out: its challenge's signature (spent once) and expiry."""

    signature: str
    expires: dt.datetime


def check(secret: str, payload: str, now: dt.datetime) -> Proof | None:
    """The proof in a form's `altcha` field, or None if it is missing, malformed, forged (no
    key of the site signed it), wrongly solved or expired."""
    if not payload or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    try:
        fields = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("salt"), str):
        return None
    given = cast(PayloadType, fields)
    expires = extract_params(given).get("expires", [""])[0]
    if not expires.isdigit() or int(expires) < now.timestamp():
        return None
    for key in signing_keys(secret):  # a key being rotated out still checks its challenges
        ok, _ = verify_solution(given, _key(key), check_expires=False)
        if ok:
            spent = hashlib.sha256(str(fields["signature"]).encode("utf-8")).hexdigest()
            return Proof(spent, dt.datetime.fromtimestamp(int(expires), dt.UTC))
    return None
