#!/usr/bin/env python3
"""A loopback stand-in for RunPod's REST API (https://rest.runpod.io/v1), for
scripts/runpod/test.sh: it records every request (method, path with query, Authorization,
JSON body) as one JSON line in RECORD_FILE and answers like RunPod, keeping what was
created in memory, so a second run of the tool finds the template and endpoint the first
created.

Shapes follow RunPod's OpenAPI document (runpod/docs: api-reference/openapi.json):
GET /templates and GET /endpoints answer a JSON array; POST answers the created object
with its `id`; PATCH answers the updated object. Like RunPod, GET /templates leaves out
templates bound to an endpoint unless `includeEndpointBoundTemplates=true` is asked.

Usage: fake_runpod.py PORT_FILE RECORD_FILE API_KEY   (listens on 127.0.0.1, port 0)
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT_FILE, RECORD_FILE, API_KEY = sys.argv[1], sys.argv[2], sys.argv[3]
LOCK = threading.Lock()
# An unrelated template and endpoint the tool must leave alone.
TEMPLATES = [{"id": "tpl-other", "name": "someone-else", "imageName": "x/y:1", "isServerless": True, "env": {}}]
ENDPOINTS = [{"id": "ep-other", "name": "someone-else -fb", "templateId": "tpl-other"}]
COUNTER = {"n": 0}


def next_id(prefix):
    COUNTER["n"] += 1
    return f"{prefix}{COUNTER['n']}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"<not json>": raw.decode(errors="replace")}
        rec = {
            "method": self.command,
            "path": self.path,
            "authorization": self.headers.get("authorization"),
            "content_type": self.headers.get("content-type"),
            "body": body,
        }
        with LOCK:
            with open(RECORD_FILE, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if self.headers.get("authorization") != f"Bearer {API_KEY}":
                return self.reply(401, {"error": "unauthorized"})
            return self.route(body)

    def route(self, body):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts[:1] != ["v1"]:
            return self.reply(404, {"error": "not found"})
        parts = parts[1:]
        bound = {e["templateId"] for e in ENDPOINTS}
        if parts == ["templates"] and self.command == "GET":
            with_bound = query.get("includeEndpointBoundTemplates") == ["true"]
            return self.reply(200, [t for t in TEMPLATES if with_bound or t["id"] not in bound])
        if parts == ["endpoints"] and self.command == "GET":
            return self.reply(200, ENDPOINTS)
        if parts == ["templates"] and self.command == "POST":
            if any(t["name"] == body.get("name") for t in TEMPLATES):
                return self.reply(400, {"error": "template name must be unique"})
            t = dict(body, id=next_id("tpl-"))
            TEMPLATES.append(t)
            return self.reply(200, t)
        if parts == ["endpoints"] and self.command == "POST":
            # RunPod shows FlashBoot endpoints with " -fb" after their name.
            name = body.get("name", "") + (" -fb" if body.get("flashboot") else "")
            e = dict(body, id=next_id("ep-"), name=name)
            ENDPOINTS.append(e)
            return self.reply(200, e)
        if len(parts) == 2 and parts[0] in ("templates", "endpoints") and self.command == "PATCH":
            items = TEMPLATES if parts[0] == "templates" else ENDPOINTS
            for item in items:
                if item["id"] == parts[1]:
                    item.update(body)
                    return self.reply(200, item)
            return self.reply(404, {"error": f"{parts[0][:-1]} {parts[1]} not found"})
        return self.reply(404, {"error": "not found"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
