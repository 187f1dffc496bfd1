"""Each provider's signing, done in the test with generated keys: an SNS CA and signing
certificate, a SendGrid ECDSA key, a Mailgun signing key and Postmark basic auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from services.receiver.esp.verify import sns_string_to_sign

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:tart-ses-events"


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class SnsSigner:
    """A generated CA and an SNS-like signing certificate it issued."""

    key: rsa.RSAPrivateKey
    cert_pem: bytes
    ca_pem: bytes

    @classmethod
    def create(cls) -> SnsSigner:
        now = datetime.now(UTC)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("Test Root CA"))
            .issuer_name(_name("Test Root CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(CA_KEY_USAGE, critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("sns.amazonaws.com"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            key,
            cert.public_bytes(serialization.Encoding.PEM),
            ca.public_bytes(serialization.Encoding.PEM),
        )

    def sign(self, document: dict[str, Any], version: str = "2") -> dict[str, Any]:
        document = {**document, "SignatureVersion": version, "SigningCertURL": CERT_URL}
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(sns_string_to_sign(document), padding.PKCS1v15(), algorithm)
        document["Signature"] = base64.b64encode(signature).decode()
        return document


def sns_timestamp(age_seconds: float = 0) -> str:
    stamp = datetime.now(UTC) - timedelta(seconds=age_seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sns_notification(message: dict[str, Any], *, topic: str = TOPIC, age: float = 0) -> dict:
    """An SNS Notification envelope (unsigned) around an SES notification."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(message),
        "Timestamp": sns_timestamp(age),
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def ses_bounce(address: str, message_id: str, *, subtype: str = "General") -> dict[str, Any]:
    """An SES bounce notification, as in the SES developer guide's examples."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "feedbackId": "0100017-example-000000",
            "bounceType": "Permanent",
            "bounceSubType": subtype,
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-12-07T03:00:00.000Z",
            "remoteMtaIp": "192.0.2.1",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": {
            "timestamp": "2026-12-07T02:59:00.000Z",
            "source": "news@example.com",
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/example.com",
            "sendingAccountId": "123456789012",
            "messageId": "0100017-ses-" + uuid.uuid4().hex,
            "destination": [address],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": "News <news@example.com>"},
                {"name": "To", "value": address},
                {"name": "Message-ID", "value": message_id},
            ],
            "commonHeaders": {
                "from": ["News <news@example.com>"],
                "to": [address],
                "messageId": message_id,
                "subject": "Hello",
            },
        },
    }


@dataclass
class SendGridSigner:
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> SendGridSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, *, age: int = 0) -> dict[str, str]:
        timestamp = str(int(time.time()) - age)
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }


def sendgrid_event(event: str, address: str, smtp_id: str, **extra: Any) -> dict[str, Any]:
    """One event of SendGrid's event webhook, as in its reference."""
    return {
        "email": address,
        "timestamp": int(time.time()),
        "smtp-id": smtp_id,
        "event": event,
        "category": ["newsletter"],
        "sg_event_id": "sg-" + uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def mailgun_body(
    key: str, event_data: dict[str, Any], *, age: int = 0, token: str | None = None
) -> dict[str, Any]:
    """A Mailgun webhook body: signature (timestamp, token, HMAC) and event-data."""
    timestamp = str(int(time.time()) - age)
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": digest},
        "event-data": event_data,
    }


def mailgun_complaint(address: str, message_id: str) -> dict[str, Any]:
    return {
        "event": "complained",
        "id": "mg-" + uuid.uuid4().hex,
        "timestamp": time.time(),
        "recipient": address,
        "message": {"headers": {"to": address, "message-id": message_id.strip("<>"),
                                "from": "news@example.com", "subject": "Hello"}},
    }  # fmt: skip


def mailgun_failure(address: str, message_id: str, *, severity: str = "permanent") -> dict:
    return {
        "event": "failed",
        "id": "mg-" + uuid.uuid4().hex,
        "timestamp": time.time(),
        "severity": severity,
        "reason": "bounce",
        "recipient": address,
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
        },
        "message": {"headers": {"message-id": message_id.strip("<>")}},
    }


def postmark_bounce(address: str, bounce_type: str = "HardBounce") -> dict[str, Any]:
    """A Postmark bounce webhook body, as in its reference."""
    return {
        "RecordType": "Bounce",
        "ID": int(uuid.uuid4().int % 10**10),
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "newsletter",
        "MessageID": str(uuid.uuid4()),
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": address,
        "From": "news@example.com",
        "BouncedAt": "2026-12-07T03:00:00Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Hello",
    }


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
