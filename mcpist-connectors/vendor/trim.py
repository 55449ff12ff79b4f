#!/usr/bin/env python3
"""Reproduce the trimmed vendor API descriptions under mcpist-connectors/vendor/.

Each service is trimmed from the file its vendor publishes (see <service>/SOURCE.md for the
repository, path and commit) down to the operations MCPist's tools use, plus every schema those
operations reach through references. Nothing is rewritten: kept objects are copied as published,
except that example payloads are dropped and descriptions are cut to their first sentence
(both are large and neither is part of the contract).

    python3 trim.py SERVICE SOURCE_FILE      # writes SERVICE/<output name>
    python3 trim.py --list                   # prints the services and what each keeps

Formats handled:
  * OpenAPI 3 (JSON or YAML): keep listed (method, path) operations, path-level parameters,
    servers, security schemes and the transitive closure of "$ref" targets.
  * Google API discovery documents: keep listed method ids, the service-level parameters,
    auth scopes and the transitive closure of schema "$ref"s. Some huge union schemas
    (Sheets/Docs batchUpdate Request/Response) are cut to the members the tools send.
  * Microsoft Graph CSDL (OData XML): keep listed EntityType/ComplexType/EnumType elements of
    the microsoft.graph schema (and the base types they derive from).
  * Dropbox Stone: keep listed routes and the transitive closure of the types they name.
Output is compact JSON with sorted keys (one line; read it with `python3 -m json.tool`), so
re-running gives the same bytes.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

DROP_KEYS = {"example", "examples", "x-readme", "x-codeSamples", "x-code-samples"}


def load(path):
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith((".yaml", ".yml")):
        import yaml  # PyYAML, only needed for YAML sources

        return yaml.safe_load(text)
    return json.loads(text)


def first_sentence(text):
    """A description cut to its first sentence (at most 240 characters): enough to design a tool."""
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    short = m.group(1) if m else text
    return short if len(short) <= 240 else short[:239] + "\u2026"


def strip(node, facts_only=False, in_props=False):
    """Copy a JSON value without example payloads and with descriptions cut to one sentence.

    With facts_only, prose (description, summary) is dropped altogether: only the interface facts
    (methods, paths, parameter names, types, required flags, status codes) remain. Keys directly
    under "properties" are schema names, never annotations, so they are always kept.
    """
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not in_props:
                if k in DROP_KEYS:
                    continue
                if k in ("description", "summary") and isinstance(v, str):
                    if not facts_only:
                        out[k] = first_sentence(v)
                    continue
            out[k] = strip(v, facts_only, k == "properties" and not in_props)
        return out
    if isinstance(node, list):
        return [strip(v, facts_only) for v in node]
    return node


def refs_in(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                found.add(v)
            else:
                refs_in(v, found)
    elif isinstance(node, list):
        for v in node:
            refs_in(v, found)


def dump(obj, out):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(HERE)} ({out.stat().st_size} bytes)")


# ---------------------------------------------------------------- OpenAPI 3

def trim_openapi(doc, ops, facts_only=False, doc_link=None):
    paths = {}
    for spec in ops:
        method, path = spec.split(" ", 1)
        method = method.lower()
        item = doc["paths"].get(path)
        if item is None or method not in item:
            sys.exit(f"operation not in the source: {spec}")
        kept = paths.setdefault(path, {})
        for shared in ("parameters", "servers"):
            if shared in item:
                kept[shared] = item[shared]
        kept[method] = item[method]
    out = {k: doc[k] for k in ("openapi", "info", "servers", "security", "externalDocs") if k in doc}
    out["paths"] = paths
    comps = doc.get("components", {})
    keep = {}
    if "securitySchemes" in comps:
        keep.setdefault("securitySchemes", comps["securitySchemes"])
    pending = set()
    refs_in(paths, pending)
    seen = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            sys.exit(f"unsupported reference {ref}")
        _, _, kind, name = ref.split("/", 3)
        target = comps[kind][name]
        keep.setdefault(kind, {})[name] = target
        refs_in(target, pending)
    out["components"] = keep
    out = strip(out, facts_only)
    if doc_link:
        for path, item in out["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    segs = [x.strip("{}").lower() for x in path.strip("/").split("/")]
                    op["externalDocs"] = {"url": doc_link.format(group=segs[0], anchor="-".join(segs), method=method)}
    return out


# ---------------------------------------------------------------- Google discovery

def trim_discovery(doc, methods, prune=None):
    prune = prune or {}
    wanted = set(methods)
    found = set()

    def walk(resources):
        kept = {}
        for rname, res in resources.items():
            entry = {}
            ms = {n: m for n, m in res.get("methods", {}).items() if m["id"] in wanted}
            found.update(m["id"] for m in ms.values())
            if ms:
                entry["methods"] = ms
            sub = walk(res.get("resources", {}))
            if sub:
                entry["resources"] = sub
            if entry:
                kept[rname] = entry
        return kept

    resources = walk(doc.get("resources", {}))
    missing = wanted - found
    if missing:
        sys.exit(f"methods not in the source: {sorted(missing)}")
    schemas = {}
    pending = set()
    refs_in(resources, pending)
    while pending:
        name = pending.pop()
        if name in schemas:
            continue
        schema = json.loads(json.dumps(doc["schemas"][name]))
        if name in prune:
            props = schema["properties"]
            unknown = set(prune[name]) - set(props)
            if unknown:
                sys.exit(f"{name} has no members {sorted(unknown)}")
            schema["properties"] = {k: v for k, v in props.items() if k in prune[name]}
            schema["x-mcpist-trimmed"] = "members not used by MCPist's tools were removed"
        schemas[name] = schema
        refs_in(schema, pending)
    out = {
        k: doc[k]
        for k in (
            "kind", "discoveryVersion", "id", "name", "version", "revision", "title", "description",
            "documentationLink", "rootUrl", "servicePath", "baseUrl", "batchPath", "mtlsRootUrl",
            "parameters", "auth", "protocol", "endpoints",
        )
        if k in doc
    }
    out["resources"] = resources
    out["schemas"] = schemas
    return strip(out)


# ---------------------------------------------------------------- Microsoft Graph CSDL

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def trim_csdl(path, names, roots=None):
    root = ET.parse(path).getroot()
    schema = None
    for el in root.iter(EDM + "Schema"):
        if el.get("Namespace") == "microsoft.graph":
            schema = el
    by_name = {}
    for el in schema:
        tag = el.tag.replace(EDM, "")
        if tag in ("EntityType", "ComplexType", "EnumType"):
            by_name[el.get("Name")] = el
    wanted = list(names)
    kept = {}
    while wanted:
        name = wanted.pop()
        if name in kept:
            continue
        if name not in by_name:
            sys.exit(f"type not in the source: {name}")
        el = by_name[name]
        kept[name] = el
        base = el.get("BaseType")
        if base:
            wanted.append(base.replace("graph.", "").replace("microsoft.graph.", ""))
    types = {}
    for name, el in sorted(kept.items()):
        kind = el.tag.replace(EDM, "")
        entry = {"kind": kind}
        for attr in ("BaseType", "Abstract", "OpenType", "IsFlags", "HasStream"):
            if el.get(attr):
                entry[attr] = el.get(attr)
        if kind == "EnumType":
            entry["members"] = [m.get("Name") for m in el.findall(EDM + "Member")]
        else:
            props = {}
            for p in el.findall(EDM + "Property"):
                props[p.get("Name")] = {k: v for k, v in p.attrib.items() if k != "Name"}
            if props:
                entry["properties"] = props
            navs = {}
            for p in el.findall(EDM + "NavigationProperty"):
                navs[p.get("Name")] = {k: v for k, v in p.attrib.items() if k != "Name"}
            if navs:
                entry["navigationProperties"] = navs
            key = [r.get("Name") for r in el.findall(f"{EDM}Key/{EDM}PropertyRef")]
            if key:
                entry["key"] = key
        types[name] = entry
    nav_roots = {}
    for owner, props in (roots or {}).items():
        el = by_name[owner]
        navs = {p.get("Name"): {k: v for k, v in p.attrib.items() if k != "Name"} for p in el.findall(EDM + "NavigationProperty")}
        missing = set(props) - set(navs)
        if missing:
            sys.exit(f"{owner} has no navigation properties {sorted(missing)}")
        nav_roots[owner] = {name: navs[name] for name in props}
    out = {"namespace": "microsoft.graph", "source_format": "CSDL (OData v4) converted to JSON", "types": types}
    if nav_roots:
        out["navigationRoots"] = nav_roots
    return out


# ---------------------------------------------------------------- Dropbox Stone

def stone_blocks(text):
    """Split a .stone file into top-level blocks keyed by (kind, name)."""
    blocks, header, current = [], [], None
    for line in text.splitlines():
        m = re.match(r"^(struct|union|union_closed|route|alias)\s+([A-Za-z0-9_/:]+)", line)
        if m:
            current = {"kind": m.group(1), "name": m.group(2), "lines": [line]}
            blocks.append(current)
        elif re.match(r"^(namespace|import)\s", line):
            header.append(line)
            current = None
        elif current is not None and (line.startswith((" ", "\t")) or not line.strip()):
            current["lines"].append(line)
        elif line.startswith("#"):
            current = None
        else:
            current = None
    return header, blocks


def trim_stone(src_dir, routes_by_ns):
    """routes_by_ns: {namespace_file_stem: [route names]}; types resolve across all files."""
    all_blocks = {}
    headers = {}
    for f in sorted(Path(src_dir).glob("*.stone")):
        header, blocks = stone_blocks(f.read_text(encoding="utf-8"))
        headers[f.stem] = header
        for b in blocks:
            b["file"] = f.stem
            all_blocks[(f.stem, b["name"])] = b
    type_index = {}
    for (stem, name), b in all_blocks.items():
        if b["kind"] != "route":
            type_index.setdefault(name, []).append((stem, name))
    kept = {}
    pending = []
    for stem, routes in routes_by_ns.items():
        for r in routes:
            key = (stem, r)
            if key not in all_blocks:
                sys.exit(f"route not in the source: {stem}/{r}")
            pending.append(key)
    while pending:
        key = pending.pop()
        if key in kept:
            continue
        b = all_blocks[key]
        kept[key] = b
        body = "\n".join(line.split("#", 1)[0] for line in b["lines"])
        body = re.sub(r'"(?:[^"\\]|\\.)*"', "", body, flags=re.S)  # docstrings and literals
        body = re.sub(r"^\s*example\s.*$", "", body, flags=re.M)
        for ns, tok in set(re.findall(r"\b(?:([a-z_]+)\.)?([A-Z][A-Za-z0-9]*)\b", body)):
            cand = (ns or b["file"], tok)
            if cand in all_blocks and all_blocks[cand]["kind"] != "route":
                pending.append(cand)
    out = {}
    for stem in sorted({k[0] for k in kept}):
        parts = headers[stem] + [""]
        for (s, _), b in sorted(kept.items(), key=lambda kv: (kv[0][0], kv[1]["kind"] != "route", kv[0][1])):
            if s == stem:
                parts.append("\n".join(b["lines"]).rstrip() + "\n")
        out[stem] = "\n".join(parts)
    return out


# ---------------------------------------------------------------- per service

SERVICES = json.loads((HERE / "trim-config.json").read_text(encoding="utf-8"))


def run(service, source):
    cfg = SERVICES[service]
    fmt = cfg["format"]
    out = HERE / service / cfg["output"]
    if fmt == "openapi":
        dump(trim_openapi(load(source), cfg["operations"], cfg.get("facts_only", False), cfg.get("doc_link")), out)
    elif fmt == "discovery":
        dump(trim_discovery(load(source), cfg["methods"], cfg.get("prune")), out)
    elif fmt == "csdl":
        dump(trim_csdl(source, cfg["types"], cfg.get("navigation_roots")), out)
    elif fmt == "stone":
        files = trim_stone(source, cfg["routes"])
        out.mkdir(parents=True, exist_ok=True)
        for stem, text in files.items():
            target = out / f"{stem}.stone"
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(HERE)} ({target.stat().st_size} bytes)")
    else:
        sys.exit(f"unknown format {fmt}")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        for name, cfg in SERVICES.items():
            kept = cfg.get("operations") or cfg.get("methods") or cfg.get("types") or []
            n = len(kept) + sum(len(r) for r in cfg.get("routes", {}).values())
            how = "see handwritten.py" if cfg["format"] == "handwritten" else f"{n} kept"
            print(f"{name}: {cfg['format']} -> {cfg['output']} ({how})")
    elif len(sys.argv) == 3:
        run(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
