"""Standard Webhooks signatures: webhook-id, webhook-timestamp and webhook-signature headers,
an HMAC-SHA256 over the id, the timestamp and the raw body, at most 5 minutes old or ahead.

Several secrets may be configured at once, so a secret can be rotated: the sender moves to the
new one while the old one is still accepted, then the old one is removed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # the Standard Webhooks recommendation: 24 to 64 random bytes
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Unauthorized(Exception):
    """The request's signature is missing, wrong or expired."""


def check_secret(secret: str) -> None:
    """Raise ValueError unless `secret` is whsec_ and the base64 of enough random bytes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True) if secret.startswith(SECRET_PREFIX) else b""
    except binascii.Error:
        key = b""
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret must be {SECRET_PREFIX} followed by the base64 of at least "
            f"{MIN_SECRET_BYTES} random bytes; got one of {len(secret)} characters starting "
            f'{secret[:8]!r}. Make one with: python -c "import base64, secrets; '
            f"print('{SECRET_PREFIX}' + base64.b64encode(secrets.token_bytes(32)).decode())\""
        )


class Verifier:
    """Checks a request against every configured secret; any one of them may have signed it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("no webhook secret configured")
        for secret in secrets:
            check_secret(secret)
        self._webhooks = [Webhook(secret) for secret in secrets]

    def verify(self, text: str, headers: Mapping[str, str]) -> str:
        """The request's webhook id once its signature checks out; raises Unauthorized."""
        signed = {name: headers.get(name, "") for name in HEADERS}
        reason = ""
        for webhook in self._webhooks:
            try:
                webhook.verify(text, signed, json_parse=False)
            except WebhookVerificationError as exc:
                reason = str(exc)
            except ValueError:  # a malformed signature header (no comma, bad base64)
                reason = "malformed webhook-signature header"
            else:
                return signed["webhook-id"]
        raise Unauthorized(reason)
