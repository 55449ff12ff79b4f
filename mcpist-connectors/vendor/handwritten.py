#!/usr/bin/env python3
"""Write the API descriptions of services whose vendor publishes no usable machine-readable one.

For each service below the vendor either publishes no OpenAPI document (Airtable, TickTick),
publishes one outside any public repository (Jira, Confluence: Atlassian's developer site only,
5+ MB, no licence stated), publishes it under a licence this Apache-2.0 project cannot vendor
(Grafana: AGPL-3.0), or publishes it but not where this workplace can fetch it (Todoist API v1).
So these descriptions are written by hand from each vendor's reference pages, one
`externalDocs.url` per operation, in OpenAPI 3.0 so that one checker reads every service.
They hold interface facts only (method, path, parameter names, locations, types, required flags,
status codes, the fields a tool reads), no vendor prose.

    python3 handwritten.py            # rewrites <service>/openapi.json for every service below

Parameter shorthand: "name:in:type" with a trailing "!" for required; in is path, query, header;
type is string, integer, number, boolean, array (of strings) or object.
Body shorthand: {"field": "type"} with "!" for required, or a "$Schema" name.
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def param(spec):
    name, loc, typ = spec.split(":")
    required = typ.endswith("!") or loc == "path"
    typ = typ.rstrip("!")
    schema = {"type": typ}
    if typ == "array":
        schema["items"] = {"type": "string"}
    return {"name": name, "in": loc, "required": required, "schema": schema}


def schema_of(fields):
    if isinstance(fields, dict) and "$raw" in fields:
        return fields["$raw"]
    if isinstance(fields, str):
        return {"$ref": f"#/components/schemas/{fields.lstrip('$')}"}
    props, required = {}, []
    for name, typ in fields.items():
        if isinstance(typ, dict):
            props[name] = typ
            continue
        if typ.endswith("!"):
            required.append(name)
            typ = typ[:-1]
        if typ.startswith("$"):
            props[name] = {"$ref": f"#/components/schemas/{typ[1:]}"}
        elif typ.startswith("[") and typ.endswith("]"):
            inner = typ[1:-1]
            items = {"$ref": f"#/components/schemas/{inner[1:]}"} if inner.startswith("$") else {"type": inner}
            props[name] = {"type": "array", "items": items}
        else:
            props[name] = {"type": typ}
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def build(svc):
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": svc["title"],
            "version": svc["version"],
            "x-mcpist-source": "written by hand from the vendor's reference pages (see SOURCE.md); not a vendor file",
        },
        "servers": [{"url": svc["server"]}],
        "components": {
            "securitySchemes": svc["security"],
            "schemas": {n: schema_of(f) for n, f in svc.get("schemas", {}).items()},
        },
        "security": [{k: []} for k in svc["security"]],
        "paths": {},
    }
    errors = svc.get("errors", {})
    for op in svc["ops"]:
        method, path = op["op"].split(" ", 1)
        entry = {
            "operationId": op["id"],
            "externalDocs": {"url": op["doc"]},
            "parameters": [param(p) for p in op.get("params", [])],
            "responses": {},
        }
        for code, body in op.get("ok", {"200": None}).items():
            resp = {"description": code}
            if body is not None:
                resp["content"] = {"application/json": {"schema": schema_of(body) if not isinstance(body, list) else {"type": "array", "items": schema_of(body[0])}}}
            entry["responses"][code] = resp
        for code in op.get("errors", svc.get("default_errors", [])):
            resp = {"description": code}
            if "schema" in errors:
                resp["content"] = {"application/json": {"schema": schema_of(errors["schema"])}}
            entry["responses"][code] = resp
        if "body" in op:
            ctype = op.get("content", "application/json")
            entry["requestBody"] = {"required": True, "content": {ctype: {"schema": schema_of(op["body"])}}}
        doc["paths"].setdefault(path, {})[method.lower()] = entry
    return doc


SERVICES = json.loads((HERE / "handwritten.json").read_text(encoding="utf-8"))

if __name__ == "__main__":
    for name, svc in SERVICES.items():
        out = HERE / name / "openapi.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(build(svc), separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {out.relative_to(HERE)} ({out.stat().st_size} bytes, {len(svc['ops'])} operations)")
