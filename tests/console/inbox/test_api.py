"""The messaging API for practice software: tokens, send, list, fetch, acknowledge; schema-valid."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from egide.console.accounts.models import Practice, User
from egide.console.accounts.services import create_api_token, revoke_api_token
from egide.console.audit.models import AuditEntry
from egide.console.inbox import services
from egide.console.inbox.models import Mailbox, MailboxKind, Message
from egide.console.inbox.openapi import SCHEMA

pytestmark = pytest.mark.django_db


def conforms(body: Any, component: str) -> None:
    schema = {"components": SCHEMA["components"], "$ref": f"#/components/schemas/{component}"}
    Draft202012Validator(schema).validate(body)


@pytest.fixture
def setup(
    make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> dict[str, Any]:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    doctor, physio = make_member(practice, "dr.martin"), make_member(practice, "k.bernard")
    boxes = {
        user.username: services.create_mailbox(
            practice, address=f"{user.username}@tilleuls.egide.test", kind=MailboxKind.PERSONAL,
            display_name=user.username, owner=user,
        )
        for user in (doctor, physio)
    }  # fmt: skip
    _, doctor_token = create_api_token(doctor, "Logiciel médical")
    physio_api, physio_token = create_api_token(physio, "Logiciel kiné")
    return {
        "doctor": doctor_token,
        "physio": physio_token,
        "physio_api": physio_api,
        "boxes": boxes,
    }


def call(method: str, path: str, token: str, body: Any = None) -> Any:
    client = Client()
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        kwargs |= {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(path, **kwargs)


def test_the_schema_is_valid_openapi() -> None:
    validate(SCHEMA)
    served = Client().get("/api/v1/openapi.json").json()
    assert served["info"]["title"].startswith("Égide")


def test_software_sends_and_the_recipient_software_fetches_and_acknowledges(
    setup: dict[str, Any],
) -> None:
    boxes: dict[str, Mailbox] = setup["boxes"]
    listing = call("get", "/api/v1/mailboxes", setup["doctor"]).json()
    assert [box["address"] for box in listing["mailboxes"]] == ["dr.martin@tilleuls.egide.test"]
    sent = call("post", "/api/v1/messages", setup["doctor"], {
        "from": "dr.martin@tilleuls.egide.test", "to": ["k.bernard@tilleuls.egide.test"],
        "subject": "Ordonnance de kinésithérapie", "body": "Vingt séances.",
        "attachments": [{"filename": "ordo.pdf", "content_type": "application/pdf",
                         "data_base64": base64.b64encode(b"%PDF-1.4 fictif").decode()}],
    })  # fmt: skip
    assert sent.status_code == 201, sent.content
    conforms(sent.json(), "MessageSummary")

    inbox = boxes["k.bernard"].pk
    pending = call("get", f"/api/v1/messages?mailbox={inbox}&integrated=0", setup["physio"]).json()
    assert len(pending["messages"]) == 1
    conforms(pending["messages"][0], "MessageSummary")
    message_id = pending["messages"][0]["id"]
    fetched = call("get", f"/api/v1/messages/{message_id}", setup["physio"]).json()
    conforms(fetched, "Message")
    assert fetched["body"].strip() == "Vingt séances."
    assert base64.b64decode(fetched["attachments"][0]["data_base64"]) == b"%PDF-1.4 fictif"
    raw = call("get", f"/api/v1/messages/{message_id}/raw", setup["physio"])
    assert raw["Content-Type"] == "message/rfc822" and b"Ordonnance" in raw.content
    assert (
        call("post", f"/api/v1/messages/{message_id}/integrated", setup["physio"]).status_code
        == 204
    )
    assert Message.objects.get(pk=message_id).integrated_at is not None
    assert AuditEntry.objects.filter(action="message.integrated", actor="k.bernard").exists()
    after = call("get", f"/api/v1/messages?mailbox={inbox}&integrated=0", setup["physio"]).json()
    assert after["messages"] == []


def test_a_missing_or_revoked_token_is_refused_and_audited(setup: dict[str, Any]) -> None:
    response = call("get", "/api/v1/mailboxes", "egide-api.inconnu.secret")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    conforms(response.json(), "Problem")
    physio = User.objects.get(username="k.bernard")
    revoke_api_token(setup["physio_api"], by=physio)
    assert call("get", "/api/v1/mailboxes", setup["physio"]).status_code == 401
    assert AuditEntry.objects.filter(action="api_token.refused").count() == 2


def test_another_persons_message_and_mailbox_are_not_found(setup: dict[str, Any]) -> None:
    boxes: dict[str, Mailbox] = setup["boxes"]
    doctor_box = boxes["dr.martin"].pk
    response = call("get", f"/api/v1/messages?mailbox={doctor_box}", setup["physio"])
    assert response.status_code == 404
    sent = call("post", "/api/v1/messages", setup["doctor"], {
        "from": "dr.martin@tilleuls.egide.test", "to": ["k.bernard@tilleuls.egide.test"],
        "subject": "x", "body": "y",
    }).json()  # fmt: skip
    assert call("get", f"/api/v1/messages/{sent['id']}", setup["physio"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"from": "k.bernard@tilleuls.egide.test", "to": ["a@b.c"], "subject": "x"}, 403),
        ({"from": "dr.martin@tilleuls.egide.test", "subject": "x"}, 400),
        ({"from": "dr.martin@tilleuls.egide.test", "to": ["x@ailleurs.fr"], "subject": "x"}, 422),
        ({"from": "dr.martin@tilleuls.egide.test", "to": ["k.bernard@tilleuls.egide.test"],
          "subject": "x", "attachments": [{"filename": "a", "data_base64": "!!"}]}, 400),
    ],
)  # fmt: skip
def test_bad_requests_get_problem_details(setup: dict[str, Any], body: Any, status: int) -> None:
    response = call("post", "/api/v1/messages", setup["doctor"], body)
    assert response.status_code == status
    conforms(response.json(), "Problem")
