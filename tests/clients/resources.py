"""Reads resources, gets prompts and completes arguments of `mcpist` with the
official MCP Python SDK, and prints what it saw.

Usage: resources.py MODE URL STEPS_JSON
  MODE        "legacy" (2025-11-25) or "auto" (2026-07-28)
  URL         the Streamable HTTP endpoint (the bearer comes from SMOKE_BEARER)
  STEPS_JSON  a list of steps, each a list:
                ["templates"], ["resources"], ["prompts"],
                ["read", URI],
                ["prompt", NAME, ARGS],
                ["complete_resource", URI_TEMPLATE, ARG, VALUE, CONTEXT],
                ["complete_prompt", NAME, ARG, VALUE, CONTEXT]

Prints one JSON object: the protocol version and one answer per step; a
step that fails gives {"error": MESSAGE, "code": CODE}.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference


def contents(result):
    out = []
    for c in result.contents:
        item = {"uri": str(c.uri), "mime_type": c.mime_type}
        if hasattr(c, "text"):
            item["text"] = c.text
        else:
            item["blob"] = c.blob
        out.append(item)
    return out


async def step(client, s):
    kind = s[0]
    if kind == "templates":
        r = await client.list_resource_templates()
        return [t.uri_template for t in r.resource_templates]
    if kind == "resources":
        r = await client.list_resources()
        return [str(x.uri) for x in r.resources]
    if kind == "prompts":
        r = await client.list_prompts()
        return [p.name for p in r.prompts]
    if kind == "read":
        return contents(await client.read_resource(s[1]))
    if kind == "prompt":
        r = await client.get_prompt(s[1], s[2])
        return [m.content.text for m in r.messages if m.content.type == "text"]
    if kind in ("complete_resource", "complete_prompt"):
        ref = (
            ResourceTemplateReference(uri=s[1])
            if kind == "complete_resource"
            else PromptReference(name=s[1])
        )
        r = await client.complete(ref, {"name": s[2], "value": s[3]}, s[4] or None)
        return r.completion.values
    raise ValueError(kind)


async def main() -> None:
    mode, url, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    headers = {"Authorization": f"Bearer {os.environ['SMOKE_BEARER']}"}
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers))
    answers = []
    async with Client(transport, mode=mode) as client:
        protocol = client.protocol_version
        for s in steps:
            try:
                answers.append(await step(client, s))
            except MCPError as e:
                answers.append({"error": e.args[1], "code": e.args[0]})
    print(json.dumps({"protocol": protocol, "answers": answers}))


asyncio.run(main())
