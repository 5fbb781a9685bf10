#!/usr/bin/env python3
"""Creates or updates the gpu-worker's RunPod serverless template and endpoint through
RunPod's REST API, idempotently: each is looked up by name, PATCHed when found, POSTed when
not. Python 3 standard library only.

    RUNPOD_API_KEY=… scripts/runpod/endpoint.py --config scripts/runpod/endpoint.env
    scripts/runpod/endpoint.py --config scripts/runpod/endpoint.env --dry-run
    scripts/runpod/endpoint.py --config … --image ghcr.io/owner/repo:v1.2.3   (overrides IMAGE)

The config is KEY=VALUE lines (`#` comments; values may be quoted); see endpoint.env.example.
`WORKER_ENV_<NAME>=value` becomes the template's environment variable NAME (the worker's
settings: gpu-worker/src/config.rs). On success the last line is `RUNPOD_ENDPOINT_ID=<id>`,
the edge's var of that name.

--dry-run prints every request (method, URL, JSON body) and sends none: the lookups, then
the body sent when nothing of that name exists (POST) and when one does (PATCH). The API
key is never printed, nor the values of worker settings whose names say they are secret
(KEY, SECRET, TOKEN, PASSWORD, PROXY, CREDENTIAL).

RUNPOD_REST_URL overrides the API's base (default https://rest.runpod.io/v1), for tests.

Field names and shapes come from RunPod's OpenAPI document (github.com/runpod/docs,
api-reference/openapi.json, schemas TemplateCreateInput, TemplateUpdateInput,
EndpointCreateInput, EndpointUpdateInput; security scheme: `Authorization: Bearer <key>`):
- GET /templates leaves out templates bound to an endpoint unless
  `includeEndpointBoundTemplates=true` is asked (ours is bound after the first run).
- Templates: `isServerless: true` and `volumeInGb: 0` for a serverless template;
  `containerRegistryAuthId` for a private image. PATCH /templates/{id} takes neither
  `name` nor `isServerless`, and rolls the endpoint's workers onto the new image/env.
- Endpoints: `executionTimeoutMs` (milliseconds), `idleTimeout` (seconds, 1..3600),
  `workersMin`/`workersMax`, `gpuTypeIds` (RunPod's GPU names, e.g. "NVIDIA L4"),
  `gpuCount`, `flashboot`, `scalerType`/`scalerValue`. PATCH takes no `name`/`computeType`.
- RunPod shows a FlashBoot endpoint's name with " -fb" appended (its GraphQL docs:
  "append -fb to your endpoint's name to enable FlashBoot"), so that name matches too.
"""

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request

DEFAULT_BASE = "https://rest.runpod.io/v1"
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PROXY|CREDENTIAL", re.I)
MASK = "***"

# name → (default, parser); IMAGE has no default.
INTS = {
    "GPU_COUNT": 1,
    "WORKERS_MIN": 0,
    "WORKERS_MAX": 3,
    "IDLE_TIMEOUT_SECS": 5,
    "EXECUTION_TIMEOUT_SECS": 600,
    "CONTAINER_DISK_GB": 30,
    "SCALER_VALUE": 4,
}
STRINGS = {
    "NAME": "api-gpu-worker",
    "IMAGE": None,
    # NVENC-capable GPUs (the A100/H100 family has no NVENC: renders fall back to libx264).
    "GPU_TYPES": "NVIDIA L4,NVIDIA RTX A5000,NVIDIA GeForce RTX 4090,NVIDIA A40,NVIDIA L40S",
    "FLASHBOOT": "true",
    "SCALER_TYPE": "QUEUE_DELAY",
    "CONTAINER_REGISTRY_AUTH_ID": "",
}


class Refused(Exception):
    """A problem the user fixes; printed without a traceback."""


def read_config(path):
    values, env = {}, {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise Refused(f"--config {path}: {e.strerror}")
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise Refused(f"{path}:{n}: expected KEY=VALUE, got {line!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key.startswith("WORKER_ENV_"):
            env[key[len("WORKER_ENV_") :]] = value
        elif key in INTS or key in STRINGS:
            values[key] = value
        else:
            known = ", ".join(sorted([*INTS, *STRINGS, "WORKER_ENV_<NAME>"]))
            raise Refused(f"{path}:{n}: unknown setting {key} (known: {known})")
    return values, env


def settings(values, env, image_flag):
    problems = []
    s = {}
    for key, default in INTS.items():
        raw = values.get(key, "")
        if raw == "":
            s[key] = default
        elif re.fullmatch(r"\d+", raw):
            s[key] = int(raw)
        else:
            problems.append(f"{key}={raw!r} is not a whole number")
    for key, default in STRINGS.items():
        s[key] = values.get(key) or default
    if image_flag:
        s["IMAGE"] = image_flag
    if not s["IMAGE"]:
        problems.append("IMAGE is not set: the worker image to run, e.g. ghcr.io/<owner>/<repo>:v1.0.0 (or --image)")
    flash = s["FLASHBOOT"].lower()
    if flash not in ("true", "false"):
        problems.append(f"FLASHBOOT={s['FLASHBOOT']!r}: use true or false")
    s["FLASHBOOT"] = flash == "true"
    s["GPU_TYPES"] = [g.strip() for g in s["GPU_TYPES"].split(",") if g.strip()]
    if not s["GPU_TYPES"]:
        problems.append("GPU_TYPES lists no GPU type (RunPod's names, e.g. NVIDIA L4)")
    if isinstance(s["WORKERS_MAX"], int) and isinstance(s["WORKERS_MIN"], int) and s["WORKERS_MIN"] > s["WORKERS_MAX"]:
        problems.append(f"WORKERS_MIN={s['WORKERS_MIN']} is above WORKERS_MAX={s['WORKERS_MAX']}")
    if isinstance(s["IDLE_TIMEOUT_SECS"], int) and not 1 <= s["IDLE_TIMEOUT_SECS"] <= 3600:
        problems.append(f"IDLE_TIMEOUT_SECS={s['IDLE_TIMEOUT_SECS']}: RunPod takes 1 to 3600 seconds")
    if s["SCALER_TYPE"] not in ("QUEUE_DELAY", "REQUEST_COUNT"):
        problems.append(f"SCALER_TYPE={s['SCALER_TYPE']!r}: use QUEUE_DELAY or REQUEST_COUNT")
    if problems:
        raise Refused("; ".join(problems))
    s["ENV"] = env
    return s


def template_bodies(s):
    update = {"imageName": s["IMAGE"], "containerDiskInGb": s["CONTAINER_DISK_GB"], "volumeInGb": 0, "env": s["ENV"]}
    if s["CONTAINER_REGISTRY_AUTH_ID"]:
        update["containerRegistryAuthId"] = s["CONTAINER_REGISTRY_AUTH_ID"]
    create = {"name": s["NAME"], "imageName": s["IMAGE"], "isServerless": True, "category": "NVIDIA", **update}
    return create, update


def endpoint_bodies(s, template_id):
    update = {
        "templateId": template_id,
        "gpuTypeIds": s["GPU_TYPES"],
        "gpuCount": s["GPU_COUNT"],
        "workersMin": s["WORKERS_MIN"],
        "workersMax": s["WORKERS_MAX"],
        "idleTimeout": s["IDLE_TIMEOUT_SECS"],
        "executionTimeoutMs": s["EXECUTION_TIMEOUT_SECS"] * 1000,
        "flashboot": s["FLASHBOOT"],
        "scalerType": s["SCALER_TYPE"],
        "scalerValue": s["SCALER_VALUE"],
    }
    return {"name": s["NAME"], "computeType": "GPU", **update}, update


def masked(body):
    """The body as printed: secret-named worker settings replaced by ***."""
    if "env" not in body:
        return body
    env = {k: (MASK if SECRET_NAME.search(k) else v) for k, v in body["env"].items()}
    return dict(body, env=env)


class Api:
    def __init__(self, base, key):
        self.base, self.key = base.rstrip("/"), key

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:500].replace(self.key, MASK)
            raise Refused(f"{method} {self.base}{path}: HTTP {e.code}: {detail}")
        except urllib.error.URLError as e:
            raise Refused(f"{method} {self.base}{path}: {e.reason}")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise Refused(f"{method} {self.base}{path}: the answer is not JSON: {raw[:200]!r}")


def find(items, names, what):
    if not isinstance(items, list):
        raise Refused(f"the {what} list is not a JSON array: {str(items)[:200]}")
    found = [i for i in items if isinstance(i, dict) and i.get("name") in names]
    if len(found) > 1:
        ids = ", ".join(str(i.get("id")) for i in found)
        raise Refused(f"{len(found)} {what}s are named {names[0]!r} ({ids}): delete the extra ones or pick another NAME")
    return found[0] if found else None


def created_id(answer, what):
    if not isinstance(answer, dict) or not answer.get("id"):
        raise Refused(f"RunPod's answer to creating the {what} has no id: {str(answer)[:200]}")
    return answer["id"]


def deploy(api, s, out):
    create, update = template_bodies(s)
    templates = api.call("GET", "/templates?includeEndpointBoundTemplates=true")
    template = find(templates, [s["NAME"]], "template")
    if template:
        template_id = template["id"]
        api.call("PATCH", f"/templates/{template_id}", update)
        print(f"template {template_id} ({s['NAME']}) updated: {s['IMAGE']}", file=out)
    else:
        template_id = created_id(api.call("POST", "/templates", create), "template")
        print(f"template {template_id} ({s['NAME']}) created: {s['IMAGE']}", file=out)
    create, update = endpoint_bodies(s, template_id)
    endpoints = api.call("GET", "/endpoints")
    endpoint = find(endpoints, [s["NAME"], s["NAME"] + " -fb"], "endpoint")
    if endpoint:
        endpoint_id = endpoint["id"]
        api.call("PATCH", f"/endpoints/{endpoint_id}", update)
        print(f"endpoint {endpoint_id} ({s['NAME']}) updated", file=out)
    else:
        endpoint_id = created_id(api.call("POST", "/endpoints", create), "endpoint")
        print(f"endpoint {endpoint_id} ({s['NAME']}) created", file=out)
    print(f"RUNPOD_ENDPOINT_ID={endpoint_id}", file=out)


def dry_run(base, s, out):
    def show(method, path, body=None, note=None):
        if note:
            print(f"# {note}", file=out)
        print(f"{method} {base}{path}", file=out)
        if body is not None:
            print(json.dumps(masked(body), indent=2), file=out)
        print(file=out)

    print("# --dry-run: nothing is sent. Every request carries:", file=out)
    print("#   Authorization: Bearer *** (RUNPOD_API_KEY)", file=out)
    print("#   Content-Type: application/json (with a body)", file=out)
    print(file=out)
    create, update = template_bodies(s)
    show("GET", "/templates?includeEndpointBoundTemplates=true", note=f"find the template named {s['NAME']!r}")
    show("POST", "/templates", create, note="when there is none:")
    show("PATCH", "/templates/{templateId}", update, note="when there is one:")
    create, update = endpoint_bodies(s, "{templateId}")
    show("GET", "/endpoints", note=f"find the endpoint named {s['NAME']!r} (or {s['NAME'] + ' -fb'!r})")
    show("POST", "/endpoints", create, note="when there is none:")
    show("PATCH", "/endpoints/{endpointId}", update, note="when there is one:")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="KEY=VALUE file (see scripts/runpod/endpoint.env.example)")
    p.add_argument("--image", help="the worker image; overrides IMAGE")
    p.add_argument("--dry-run", action="store_true", help="print the requests, send nothing")
    args = p.parse_args(argv)
    base = os.environ.get("RUNPOD_REST_URL", "").rstrip("/") or DEFAULT_BASE
    try:
        values, env = read_config(args.config)
        s = settings(values, env, args.image)
        if args.dry_run:
            dry_run(base, s, sys.stdout)
            return 0
        key = os.environ.get("RUNPOD_API_KEY", "").strip()
        if not key:
            raise Refused("RUNPOD_API_KEY is not set: create an API key (RunPod console → Settings → API Keys) and export it")
        deploy(Api(base, key), s, sys.stdout)
        return 0
    except Refused as e:
        print(f"scripts/runpod/endpoint.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
