#!/usr/bin/python3
"""A strict stand-in for the parts of Consul's HTTP API that redishappy uses.

No Consul server can be installed on the test machines, so the tests talk to
this instead. It accepts only the fields the Consul HTTP API documents for
each endpoint, with the documented JSON types; an unknown or mistyped field is
a 400, as Consul's strict decoder answers. The catalog lives in memory.

Endpoints (as Consul documents them):
  PUT /v1/catalog/register, PUT /v1/catalog/deregister
  PUT /v1/agent/service/register, PUT /v1/agent/service/deregister/<id>
  GET /v1/catalog/service/<name>

Control interface, on its own port so it survives "down" (all POST):
  /delay?s=N     answer every API request N seconds late (0 to stop)
  /down          close the API listener (connection refused)
  /up            listen again on the same port
  /token?value=T demand X-Consul-Token T (empty value: no token needed)
  /requests      GET: JSON count of API requests seen, per path

Usage: fake_consul.py [PORTFILE]. Binds 127.0.0.1 on free ports and prints
"<api-port> <control-port>" on one line to stdout (and to PORTFILE if given).
"""

import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STR, INT, BOOL, LIST_STR, MAP_STR, OBJ, ANY = "str", "int", "bool", "[str]", "map", "obj", "any"

# Field name -> type, from Consul's HTTP API documentation.
SERVICE_FIELDS = {
    "ID": STR, "Service": STR, "Tags": LIST_STR, "Address": STR, "Meta": MAP_STR,
    "Port": INT, "TaggedAddresses": OBJ, "EnableTagOverride": BOOL, "Kind": STR,
    "Namespace": STR, "Partition": STR, "Weights": OBJ, "Proxy": OBJ, "Connect": OBJ,
}
CATALOG_REGISTER = {
    "ID": STR, "Node": STR, "Address": STR, "Datacenter": STR, "TaggedAddresses": MAP_STR,
    "NodeMeta": MAP_STR, "Service": SERVICE_FIELDS, "Check": OBJ, "Checks": ANY,
    "SkipNodeUpdate": BOOL, "Namespace": STR, "Partition": STR,
}
CATALOG_DEREGISTER = {
    "Node": STR, "Datacenter": STR, "CheckID": STR, "ServiceID": STR, "Namespace": STR,
    "Partition": STR,
}
AGENT_REGISTER = {
    "Name": STR, "ID": STR, "Tags": LIST_STR, "Address": STR, "TaggedAddresses": OBJ,
    "Meta": MAP_STR, "Port": INT, "Kind": STR, "Proxy": OBJ, "Connect": OBJ, "Check": OBJ,
    "Checks": ANY, "EnableTagOverride": BOOL, "Weights": OBJ, "Namespace": STR,
    "Partition": STR,
}
AGENT_NODE = "fake-agent"


class BadRequest(Exception):
    pass


def check_type(name, value, kind):
    if isinstance(kind, dict):
        check_object(value, kind, name + ".")
        return
    ok = {
        STR: lambda v: isinstance(v, str),
        INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        BOOL: lambda v: isinstance(v, bool),
        LIST_STR: lambda v: v is None or (isinstance(v, list)
                                          and all(isinstance(x, str) for x in v)),
        MAP_STR: lambda v: v is None or (isinstance(v, dict)
                                         and all(isinstance(x, str) for x in v.values())),
        OBJ: lambda v: v is None or isinstance(v, dict),
        ANY: lambda v: True,
    }[kind](value)
    if not ok:
        raise BadRequest("Request decode failed: field %s has the wrong type" % name)


def check_object(body, fields, prefix=""):
    if not isinstance(body, dict):
        raise BadRequest("Request decode failed: %s is not an object" % (prefix or "body"))
    for key, value in body.items():
        if key not in fields:
            raise BadRequest('Request decode failed: json: unknown field "%s%s"' % (prefix, key))
        check_type(prefix + key, value, fields[key])


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.delay = 0.0
        self.token = ""
        self.catalog = {}  # (node, service id) -> entry
        self.requests = {}


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set per server

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Consul-Index", "1")
        # No keep-alive: "down" must refuse every later request at once.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def read_json(self, required=True):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            if required:
                raise BadRequest("Request decode failed: EOF")
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise BadRequest("Request decode failed: %s" % e)

    def do_GET(self):
        self.handle_api("GET")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_POST(self):
        self.reply(405, "method POST not allowed\n")

    def handle_api(self, method):
        st = self.state
        path = urllib.parse.urlsplit(self.path).path
        with st.lock:
            st.requests[path] = st.requests.get(path, 0) + 1
            delay, token = st.delay, st.token
        if delay:
            time.sleep(delay)
        try:
            if token and self.headers.get("X-Consul-Token") != token:
                self.read_json(required=False)
                self.reply(403, "ACL not found\n")
                return
            code, body = self.route(method, path)
        except BadRequest as e:
            code, body = 400, str(e) + "\n"
        if isinstance(body, str):
            self.reply(code, body)
        else:
            self.reply(code, json.dumps(body), "application/json")

    def route(self, method, path):
        st = self.state
        if method == "GET" and path.startswith("/v1/catalog/service/"):
            name = urllib.parse.unquote(path[len("/v1/catalog/service/"):])
            with st.lock:
                return 200, [e for e in st.catalog.values() if e["ServiceName"] == name]
        if method != "PUT":
            return 405, "method %s not allowed\n" % method
        if path == "/v1/catalog/register":
            return self.catalog_register(self.read_json())
        if path == "/v1/catalog/deregister":
            return self.catalog_deregister(self.read_json())
        if path == "/v1/agent/service/register":
            return self.agent_register(self.read_json())
        if path.startswith("/v1/agent/service/deregister/"):
            self.read_json(required=False)
            sid = urllib.parse.unquote(path[len("/v1/agent/service/deregister/"):])
            with st.lock:
                if st.catalog.pop((AGENT_NODE, sid), None) is None:
                    return 404, 'Unknown service ID "%s". Ensure that the service ID is passed, not the service name.\n' % sid
            return 200, ""
        return 404, "404 page not found\n"

    def catalog_register(self, body):
        check_object(body, CATALOG_REGISTER)
        if not body.get("Node"):
            raise BadRequest("Must provide node")
        if not body.get("Address"):
            raise BadRequest("Must provide address")
        svc = body.get("Service")
        if svc is not None and not svc.get("Service"):
            raise BadRequest("Must provide service name")
        if svc is None:
            return 200, True
        sid = svc.get("ID") or svc["Service"]
        entry = {
            "ID": body.get("ID", ""), "Node": body["Node"], "Address": body["Address"],
            "Datacenter": body.get("Datacenter", "dc1"),
            "TaggedAddresses": body.get("TaggedAddresses"),
            "NodeMeta": body.get("NodeMeta") or {}, "ServiceKind": "",
            "ServiceID": sid, "ServiceName": svc["Service"],
            "ServiceTags": svc.get("Tags") or [], "ServiceAddress": svc.get("Address", ""),
            "ServiceMeta": svc.get("Meta") or {}, "ServicePort": svc.get("Port", 0),
            "ServiceEnableTagOverride": svc.get("EnableTagOverride", False),
        }
        with self.state.lock:
            self.state.catalog[(body["Node"], sid)] = entry
        return 200, True

    def catalog_deregister(self, body):
        check_object(body, CATALOG_DEREGISTER)
        if not body.get("Node"):
            raise BadRequest("Must provide node")
        with self.state.lock:
            if body.get("ServiceID"):
                self.state.catalog.pop((body["Node"], body["ServiceID"]), None)
            else:
                for key in [k for k in self.state.catalog if k[0] == body["Node"]]:
                    del self.state.catalog[key]
        return 200, True

    def agent_register(self, body):
        check_object(body, AGENT_REGISTER)
        if not body.get("Name"):
            raise BadRequest("Missing service name")
        sid = body.get("ID") or body["Name"]
        entry = {
            "ID": "", "Node": AGENT_NODE, "Address": "127.0.0.1", "Datacenter": "dc1",
            "TaggedAddresses": None, "NodeMeta": {}, "ServiceKind": "",
            "ServiceID": sid, "ServiceName": body["Name"],
            "ServiceTags": body.get("Tags") or [], "ServiceAddress": body.get("Address", ""),
            "ServiceMeta": body.get("Meta") or {}, "ServicePort": body.get("Port", 0),
            "ServiceEnableTagOverride": body.get("EnableTagOverride", False),
        }
        with self.state.lock:
            self.state.catalog[(AGENT_NODE, sid)] = entry
        return 200, ""


class Fake:
    def __init__(self):
        self.state = State()
        self.handler = type("BoundApi", (Api,), {"state": self.state})
        self.api = None
        self.port = 0
        self.up()

    def up(self):
        if self.api:
            return
        self.api = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.api.daemon_threads = True
        self.port = self.api.server_address[1]
        threading.Thread(target=self.api.serve_forever, daemon=True).start()

    def down(self):
        if not self.api:
            return
        self.api.shutdown()
        self.api.server_close()
        self.api = None


def control_handler(fake):
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, body):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/requests":
                with fake.state.lock:
                    self.reply(200, json.dumps(fake.state.requests))
                return
            self.reply(404, "no such control\n")

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            if url.path == "/delay":
                with fake.state.lock:
                    fake.state.delay = float(q.get("s", "0"))
            elif url.path == "/token":
                with fake.state.lock:
                    fake.state.token = q.get("value", "")
            elif url.path == "/down":
                fake.down()
            elif url.path == "/up":
                fake.up()
            else:
                self.reply(404, "no such control\n")
                return
            self.reply(200, "ok\n")

    return Control


def main():
    fake = Fake()
    control = ThreadingHTTPServer(("127.0.0.1", 0), control_handler(fake))
    control.daemon_threads = True
    line = "%d %d\n" % (fake.port, control.server_address[1])
    if len(sys.argv) > 1:
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(line)
        import os
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    sys.stdout.write(line)
    sys.stdout.flush()
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
