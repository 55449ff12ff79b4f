#!/usr/bin/env python3
"""Check tools.json (proposed tool -> upstream operation) against the vendored descriptions.

Every tool must name an operation that exists in its service's description, and every service
must propose at least the original MCPist's tool count (issue 23). This is the research-stage
check; the Rust connectors will get their own test that reads the same files.

    python3 check_tools.py     # exit status 1 and a list of problems if anything is off

Operation forms in tools.json:
  "GET /path"                     OpenAPI operation (openapi.json) or a row of paths.md
  "svc.resource.method[#member]"  Google discovery method id, optionally a batchUpdate Request member
  "other_service:method.id"       a method of another service's description (Drive for Docs comments)
  "ns/route"                      Dropbox Stone route in stone/<ns>.stone
  "sql"                           a PostgreSQL statement listed in postgresql/catalog-queries.md
  "none"                          no upstream call (computed locally)
"""
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MINIMUM = {
    "airtable": 12, "asana": 23, "confluence": 12, "dropbox": 15, "google_apps_script": 17,
    "google_calendar": 8, "google_docs": 18, "google_drive": 22, "google_sheets": 27,
    "google_tasks": 9, "grafana": 22, "jira": 11, "microsoft_todo": 11, "postgresql": 7,
    "supabase": 18, "ticktick": 11, "todoist": 11, "trello": 16,
}


def discovery_methods(service):
    doc = json.loads((HERE / service / "discovery.json").read_text())
    ids = {}

    def walk(resources):
        for res in resources.values():
            for m in res.get("methods", {}).values():
                ids[m["id"]] = m
            walk(res.get("resources", {}))

    walk(doc["resources"])
    return doc, ids


def graph_path_resolves(csdl_file, path):
    """Walk a Graph URL (/me/nav/{key}/nav...) through the CSDL navigation properties."""
    doc = json.loads(csdl_file.read_text())
    types = doc["types"]
    segments = path.strip("/").split("/")
    if segments[0] != "me":
        return False
    navs, collection = doc["navigationRoots"]["user"], False
    for seg in segments[1:]:
        if seg.startswith("{"):
            if not collection:
                return False
            collection = False
            continue
        if collection or seg not in navs:
            return False
        target = navs[seg]["Type"]
        collection = target.startswith("Collection(")
        name = target.removeprefix("Collection(").removesuffix(")").removeprefix("graph.")
        navs = types[name].get("navigationProperties", {})
    return True


def exists(service, op, tool):
    if op == "none":
        return True
    if ":" in op and not op.startswith(("GET", "POST", "PUT", "PATCH", "DELETE")) and "/" not in op:
        other, op = op.split(":", 1)
        return exists(other, op, tool)
    folder = HERE / service
    if (folder / "openapi.json").exists():
        method, path = op.split(" ", 1)
        return method.lower() in json.loads((folder / "openapi.json").read_text())["paths"].get(path, {})
    if (folder / "discovery.json").exists():
        doc, ids = discovery_methods(service)
        mid, _, member = op.partition("#")
        if mid not in ids:
            return False
        return not member or member in doc["schemas"]["Request"]["properties"]
    if (folder / "stone").exists():
        ns, route = op.split("/", 1)
        text = (folder / "stone" / f"{ns}.stone").read_text()
        return re.search(rf"^route {re.escape(route)} \(", text, re.M) is not None
    if (folder / "paths.md").exists():
        method, path = op.split(" ", 1)
        rows = (folder / "paths.md").read_text()
        listed = any(method in row.split("|")[1] and f"`{path}`" in row for row in rows.splitlines() if row.startswith("| "))
        return listed and graph_path_resolves(folder / "csdl-types.json", path)
    if op == "sql":
        return f"| {tool} |" in (folder / "catalog-queries.md").read_text()
    return False


def main():
    tools = json.loads((HERE / "tools.json").read_text())
    problems = []
    for service, minimum in MINIMUM.items():
        got = tools.get(service, {})
        if len(got) < minimum:
            problems.append(f"{service}: {len(got)} tools, the original has {minimum}")
        for tool, spec in got.items():
            if spec["access"] not in ("read", "write"):
                problems.append(f"{service}.{tool}: access must be read or write")
            if not exists(service, spec["op"], tool):
                problems.append(f"{service}.{tool}: {spec['op']} is not in the vendored description")
    for p in problems:
        print(p)
    total = sum(len(v) for v in tools.values())
    print(f"{len(tools)} services, {total} tools, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
