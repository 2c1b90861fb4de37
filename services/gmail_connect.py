"""Connecting a Gmail mailbox: OAuth in a browser (installed-app flow) or a refresh token from elsewhere.

The refresh token is checked against the token endpoint, encrypted with ENCRYPTION_KEY and stored; it is
never printed or logged.
"""

from __future__ import annotations

from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials

from models.db import session_scope
from models.queries.mailboxes import connect_mailbox
from receipt_sync.crypto import TokenCipher
from receipt_sync.errors import ConfigurationError, MailboxAuthError
from receipt_sync.mail.gmail import GmailSource
from receipt_sync.settings import Settings, get_settings

GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


def _client_config(settings: Settings) -> tuple[str, str]:
    if not settings.google_client_id or not settings.google_client_secret:
        raise ConfigurationError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set to connect Gmail")
    return settings.google_client_id, settings.google_client_secret.get_secret_value()


def _browser_flow(settings: Settings) -> str:
    from google_auth_oauthlib.flow import InstalledAppFlow

    client_id, client_secret = _client_config(settings)
    config = {
        "installed": {
            "client_id": client_id,
            "client_secret": client_secret,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": settings.google_token_uri,
            "redirect_uris": ["http://127.0.0.1"],
        }
    }
    flow = InstalledAppFlow.from_client_config(config, scopes=[GMAIL_SCOPE])
    creds = flow.run_local_server(host="127.0.0.1", port=0, access_type="offline", prompt="consent")
    if not creds.refresh_token:
        raise MailboxAuthError("Google returned no refresh token; revoke the app's access and connect again")
    return str(creds.refresh_token)


def _check_token(settings: Settings, refresh_token: str) -> None:
    client_id, client_secret = _client_config(settings)
    creds = Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=settings.google_token_uri,
        client_id=client_id,
        client_secret=client_secret,
        scopes=[GMAIL_SCOPE],
    )
    try:
        creds.refresh(Request())
    except RefreshError:
        raise MailboxAuthError("Google refused this refresh token (revoked or expired): obtain a new one") from None


def connect_gmail_mailbox(business_id: int, refresh_token: str | None, address: str | None) -> tuple[int, str]:
    """Store a Gmail connection for the business; returns (mailbox id, address)."""
    settings = get_settings()
    cipher = TokenCipher(settings.encryption_key)
    token = refresh_token or _browser_flow(settings)
    _check_token(settings, token)
    address = address or _profile_address(settings, token)
    with session_scope() as session:
        mailbox = connect_mailbox(
            session,
            business_id=business_id,
            provider="gmail",
            address=address,
            encrypted_refresh_token=cipher.encrypt(token),
        )
        return mailbox.id, mailbox.address


def _profile_address(settings: Settings, token: str) -> str:
    source = GmailSource(token, settings)
    try:
        return source.email_address()
    finally:
        source.close()
