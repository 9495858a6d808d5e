"""The OpenAPI 3.1 description of the messaging API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ID = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "integer"}}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Égide — API de messagerie sécurisée de santé",
        "version": "1.0.0",
        "description": "Pour les logiciels de professionnels de santé (LPS). Authentification : "
        "`Authorization: Bearer egide-api.…` (jeton d'application créé dans « Mon compte »).",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/mailboxes": {
            "get": {
                "summary": "Boîtes aux lettres accessibles (titulaire ou délégué)",
                "responses": {
                    "200": {
                        "description": "Liste",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "mailboxes": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Mailbox"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "401": _PROBLEM,
                },
            }
        },
        "/messages": {
            "get": {
                "summary": "Messages d'une boîte",
                "parameters": [
                    {
                        "name": "mailbox",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "folder",
                        "in": "query",
                        "schema": {"enum": ["inbox", "sent", "trash", "quarantine"]},
                    },
                    {"name": "unread", "in": "query", "schema": {"enum": ["1"]}},
                    {"name": "integrated", "in": "query", "schema": {"enum": ["0"]}},
                ],
                "responses": {
                    "200": {
                        "description": "Liste",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "messages": {
                                            "type": "array",
                                            "items": {
                                                "$ref": "#/components/schemas/MessageSummary"
                                            },
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "400": _PROBLEM,
                    "401": _PROBLEM,
                    "404": _PROBLEM,
                },
            },
            "post": {
                "summary": "Envoyer un message",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Draft"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "Envoyé",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/MessageSummary"}
                            }
                        },
                    },
                    "400": _PROBLEM,
                    "401": _PROBLEM,
                    "403": _PROBLEM,
                    "413": _PROBLEM,
                    "422": _PROBLEM,
                },
            },
        },
        "/messages/{message_id}": {
            "get": {
                "summary": "Lire un message (journalisé)",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "Message",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Message"}}
                        },
                    },
                    "401": _PROBLEM,
                    "404": _PROBLEM,
                },
            }
        },
        "/messages/{message_id}/raw": {
            "get": {
                "summary": "Le message MIME d'origine",
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "RFC 5322", "content": {"message/rfc822": {}}},
                    "401": _PROBLEM,
                    "404": _PROBLEM,
                },
            }
        },
        "/messages/{message_id}/read": {
            "post": {
                "summary": "Marquer comme lu",
                "parameters": [_ID],
                "responses": {"204": {"description": "Fait"}, "401": _PROBLEM, "404": _PROBLEM},
            }
        },
        "/messages/{message_id}/integrated": {
            "post": {
                "summary": "Accuser l'intégration dans le dossier patient",
                "parameters": [_ID],
                "responses": {"204": {"description": "Fait"}, "401": _PROBLEM, "404": _PROBLEM},
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Problem": {
                "description": "Erreur (RFC 9457)",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
            },
            "Mailbox": {
                "type": "object",
                "required": ["id", "address", "kind", "name"],
                "properties": {
                    "id": {"type": "integer"},
                    "address": {"type": "string", "format": "email"},
                    "kind": {"enum": ["PER", "ORG", "APP"]},
                    "name": {"type": "string"},
                },
            },
            "Attachment": {
                "type": "object",
                "required": ["filename", "data_base64"],
                "properties": {
                    "filename": {"type": "string"},
                    "content_type": {"type": "string"},
                    "data_base64": {"type": "string", "contentEncoding": "base64"},
                },
            },
            "Draft": {
                "type": "object",
                "required": ["from", "to", "subject"],
                "properties": {
                    "from": {"type": "string", "format": "email"},
                    "to": {
                        "type": "array",
                        "items": {"type": "string", "format": "email"},
                        "minItems": 1,
                    },
                    "subject": {"type": "string"},
                    "body": {"type": "string"},
                    "headers": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "En-têtes MSSanté (X-MSS-…)",
                    },
                    "attachments": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Attachment"},
                    },
                },
            },
            "MessageSummary": {
                "type": "object",
                "required": ["id", "mailbox", "folder", "subject"],
                "properties": {
                    "id": {"type": "integer"},
                    "mailbox": {"type": "string"},
                    "folder": {"type": "string"},
                    "message_id": {"type": "string"},
                    "from": {"type": "string"},
                    "to": {"type": "array", "items": {"type": "string"}},
                    "subject": {"type": "string"},
                    "received_at": {"type": "string", "format": "date-time"},
                    "size": {"type": "integer"},
                    "unread": {"type": "boolean"},
                    "attachment_names": {"type": "array", "items": {"type": "string"}},
                    "integrated_at": {"type": ["string", "null"], "format": "date-time"},
                    "problem": {"type": ["string", "null"]},
                },
            },
            "Message": {
                "allOf": [
                    {"$ref": "#/components/schemas/MessageSummary"},
                    {
                        "type": "object",
                        "properties": {
                            "body": {"type": "string"},
                            "headers": {"type": "object"},
                            "warnings": {"type": "array", "items": {"type": "string"}},
                            "attachments": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Attachment"},
                            },
                        },
                    },
                ]
            },
        },
    },
}
