"""JSON Schemas of what Slack, Microsoft Teams and PagerDuty accept, written from their documentation (the
parts a notice uses; anything else in a payload is refused, so a misspelt key fails the test):

- Slack incoming webhooks and Block Kit (api.slack.com/messaging/webhooks, /reference/block-kit/blocks,
  /reference/messaging/attachments): text ≤ 40,000; header text plain_text ≤ 150; section text ≤ 3,000,
  fields ≤ 10 of ≤ 2,000 each; context ≤ 10 elements; button text plain_text ≤ 75, url ≤ 3,000; ≤ 50 blocks.
- Teams workflow webhooks ("Post to a channel when a webhook request is received": a message with one
  Adaptive Card attachment) and Adaptive Cards 1.4 (adaptivecards.io/explorer): TextBlock, Container,
  FactSet, Action.OpenUrl with their enumerations of styles, colours, sizes and weights.
- PagerDuty Events API v2 (developer.pagerduty.com/docs/events-api-v2/trigger-events, /resolve-events):
  routing_key of 32 characters, event_action, dedup_key ≤ 255, payload.summary ≤ 1,024, source, severity
  critical|error|warning|info, timestamp ISO 8601, links, client, client_url.
"""

PLAIN = {"type": "object", "required": ["type", "text"], "additionalProperties": False,
         "properties": {"type": {"const": "plain_text"}, "text": {"type": "string", "minLength": 1},
                        "emoji": {"type": "boolean"}}}  # fmt: skip
MRKDWN = {"type": "object", "required": ["type", "text"], "additionalProperties": False,
          "properties": {"type": {"const": "mrkdwn"}, "text": {"type": "string", "minLength": 1, "maxLength": 3000},
                         "verbatim": {"type": "boolean"}}}  # fmt: skip


def _limited(schema: dict, max_length: int) -> dict:
    return {**schema, "properties": {**schema["properties"], "text": {"type": "string", "minLength": 1,
                                                                       "maxLength": max_length}}}  # fmt: skip


SLACK_BLOCK = {
    "oneOf": [
        {"type": "object", "required": ["type", "text"], "additionalProperties": False,
         "properties": {"type": {"const": "header"}, "text": _limited(PLAIN, 150), "block_id": {"type": "string"}}},
        {"type": "object", "required": ["type"], "additionalProperties": False, "anyOf": [{"required": ["text"]},
                                                                                        {"required": ["fields"]}],
         "properties": {"type": {"const": "section"}, "text": {"oneOf": [PLAIN, MRKDWN]},
                        "fields": {"type": "array", "minItems": 1, "maxItems": 10,
                                   "items": {"oneOf": [_limited(PLAIN, 2000), _limited(MRKDWN, 2000)]}},
                        "block_id": {"type": "string"}}},
        {"type": "object", "required": ["type", "elements"], "additionalProperties": False,
         "properties": {"type": {"const": "context"}, "elements": {"type": "array", "minItems": 1, "maxItems": 10,
                                                                    "items": {"oneOf": [PLAIN, MRKDWN]}}}},
        {"type": "object", "required": ["type", "elements"], "additionalProperties": False,
         "properties": {"type": {"const": "actions"}, "elements": {"type": "array", "minItems": 1, "maxItems": 25,
                        "items": {"type": "object", "required": ["type", "text"], "additionalProperties": False,
                                  "properties": {"type": {"const": "button"}, "text": _limited(PLAIN, 75),
                                                 "url": {"type": "string", "format": "uri", "maxLength": 3000},
                                                 "action_id": {"type": "string"},
                                                 "style": {"enum": ["primary", "danger"]}}}}}},
        {"type": "object", "required": ["type"], "additionalProperties": False,
         "properties": {"type": {"const": "divider"}}},
    ]
}  # fmt: skip
SLACK = {
    "type": "object", "additionalProperties": False, "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}],
    "properties": {
        "text": {"type": "string", "maxLength": 40000},
        "blocks": {"type": "array", "maxItems": 50, "items": SLACK_BLOCK},
        "attachments": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["blocks"],
            "properties": {"color": {"type": "string", "pattern": "^(#[0-9A-Fa-f]{6}|good|warning|danger)$"},
                           "fallback": {"type": "string"},
                           "blocks": {"type": "array", "minItems": 1, "maxItems": 50, "items": SLACK_BLOCK}}}},
    },
}  # fmt: skip

TEXT_BLOCK = {"type": "object", "required": ["type", "text"], "additionalProperties": False, "properties": {
    "type": {"const": "TextBlock"}, "text": {"type": "string"}, "wrap": {"type": "boolean"},
    "weight": {"enum": ["Default", "Lighter", "Bolder"]},
    "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
    "color": {"enum": ["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention",
                       "default", "dark", "light", "accent", "good", "warning", "attention"]},
    "isSubtle": {"type": "boolean"}, "spacing": {"type": "string"}, "separator": {"type": "boolean"}}}  # fmt: skip
FACT_SET = {"type": "object", "required": ["type", "facts"], "additionalProperties": False, "properties": {
    "type": {"const": "FactSet"}, "facts": {"type": "array", "items": {
        "type": "object", "required": ["title", "value"], "additionalProperties": False,
        "properties": {"title": {"type": "string"}, "value": {"type": "string"}}}}}}  # fmt: skip
CONTAINER = {"type": "object", "required": ["type", "items"], "additionalProperties": False, "properties": {
    "type": {"const": "Container"}, "items": {"type": "array", "items": {"oneOf": [TEXT_BLOCK, FACT_SET]}},
    "style": {"enum": ["default", "emphasis", "good", "attention", "warning", "accent"]},
    "bleed": {"type": "boolean"}}}  # fmt: skip
TEAMS = {
    "type": "object", "required": ["type", "attachments"], "additionalProperties": False,
    "properties": {
        "type": {"const": "message"},
        "attachments": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["contentType", "content"], "additionalProperties": False,
            "properties": {
                "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                "contentUrl": {"type": ["string", "null"]},
                "content": {
                    "type": "object", "required": ["type", "version", "body"], "additionalProperties": False,
                    "properties": {
                        "$schema": {"const": "http://adaptivecards.io/schemas/adaptive-card.json"},
                        "type": {"const": "AdaptiveCard"},
                        "version": {"enum": ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]},
                        "body": {"type": "array", "items": {"oneOf": [TEXT_BLOCK, FACT_SET, CONTAINER]}},
                        "actions": {"type": "array", "items": {
                            "type": "object", "required": ["type", "url"], "additionalProperties": False,
                            "properties": {"type": {"const": "Action.OpenUrl"}, "title": {"type": "string"},
                                           "url": {"type": "string", "format": "uri"}}}},
                    },
                },
            }}},
    },
}  # fmt: skip

ISO_8601 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"
PAGERDUTY = {
    "type": "object", "required": ["routing_key", "event_action"], "additionalProperties": False,
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": {
            "type": "object", "required": ["summary", "source", "severity"], "additionalProperties": False,
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "pattern": ISO_8601},
                "component": {"type": "string"}, "group": {"type": "string"}, "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "client": {"type": "string"},
        "client_url": {"type": "string", "format": "uri"},
        "links": {"type": "array", "items": {"type": "object", "required": ["href"], "additionalProperties": False,
                                             "properties": {"href": {"type": "string"}, "text": {"type": "string"}}}},
        "images": {"type": "array"},
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
    "else": {"required": ["dedup_key"]},
}  # fmt: skip
