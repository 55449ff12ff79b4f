"""Calls a tool on `mcpist` with the official MCP Python SDK, as a client
that supports URL-mode elicitation, and reports each elicitation it gets.

Usage: connect.py MODE TARGET TOOL [ARGS_JSON]
  MODE  "legacy" (2025-11-25: the call fails with URLElicitationRequiredError,
        -32042, and this script retries it) or "auto" (2026-07-28: the call
        returns an InputRequiredResult, which the SDK's own driver hands to the
        elicitation callback, then retries with the sealed requestState)
  TARGET the Streamable HTTP endpoint (the bearer comes from SMOKE_BEARER),
        or "stdio" (runs SMOKE_MCPIST serve --stdio)

For a form elicitation ("which account?") it prints {"event": "form",
"message": ..., "schema": ...} and answers with the label in PICK (declines
without it). For each URL elicitation it prints {"event": "elicit", "url": ..., "message": ...}
on a line and waits for a line on stdin (the test completes the page in a
browser meanwhile). Each `notifications/elicitation/complete` (2025-11-25)
it prints as {"event": "complete", "elicitation_id": ...}. At the end it prints {"event": "result", "protocol": ...,
"rounds": ..., "is_error": ..., "text": ...}.
"""

import asyncio
import json
import os
import sys

import anyio
import httpx2
from mcp import Client, MCPError, StdioServerParameters, UrlElicitationRequiredError
from mcp.client.streamable_http import streamable_http_client
from mcp_types import URL_ELICITATION_REQUIRED, ElicitCompleteNotification, ElicitResult

elicited = 0


async def follow(url: str, message: str, elicitation_id) -> None:
    """Reports the link and waits until the test says the user is done."""
    global elicited
    elicited += 1
    print(
        json.dumps({"event": "elicit", "url": url, "message": message, "elicitation_id": elicitation_id}),
        flush=True,
    )
    await anyio.to_thread.run_sync(sys.stdin.readline)


async def on_elicit(context, params):
    if getattr(params, "mode", None) == "form":
        # "Which account?": report the choices, answer with PICK (or decline).
        schema = params.requested_schema
        if hasattr(schema, "model_dump"):
            schema = schema.model_dump(by_alias=True, exclude_none=True)
        print(json.dumps({"event": "form", "message": params.message, "schema": schema}), flush=True)
        pick = os.environ.get("PICK")
        if not pick:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"account": pick})
    if getattr(params, "mode", None) != "url":
        return ElicitResult(action="decline")
    await follow(params.url, params.message, getattr(params, "elicitation_id", None))
    return ElicitResult(action="accept")


async def on_message(message) -> None:
    if isinstance(message, ElicitCompleteNotification):
        print(json.dumps({"event": "complete", "elicitation_id": message.params.elicitation_id}), flush=True)


def target(spec: str):
    if spec == "stdio":
        return StdioServerParameters(
            command=os.environ["SMOKE_MCPIST"], args=["serve", "--stdio"], env=dict(os.environ)
        )
    headers = {"Authorization": f"Bearer {os.environ['SMOKE_BEARER']}"}
    return streamable_http_client(spec, http_client=httpx2.AsyncClient(headers=headers))


async def main() -> None:
    mode, url, tool = sys.argv[1], sys.argv[2], sys.argv[3]
    args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    async with Client(target(url), mode=mode, elicitation_callback=on_elicit, message_handler=on_message) as client:
        try:
            result = await client.call_tool(tool, args)
        except MCPError as error:
            # The SDK raises the -32042 error as a plain MCPError: read its elicitations.
            if error.code != URL_ELICITATION_REQUIRED:
                raise
            required = UrlElicitationRequiredError.from_error(error.error)
            for elicitation in required.elicitations:
                await follow(elicitation.url, elicitation.message, elicitation.elicitation_id)
            result = await client.call_tool(tool, args)
        print(
            json.dumps(
                {
                    "event": "result",
                    "protocol": client.protocol_version,
                    "elicited": elicited,
                    "is_error": bool(result.is_error),
                    "text": "".join(c.text for c in result.content if c.type == "text"),
                }
            ),
            flush=True,
        )


asyncio.run(main())
