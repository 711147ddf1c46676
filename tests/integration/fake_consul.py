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
  PUT /v1/txn with Node "set" and Service "cas" / "delete-cas" operations
      (the only verbs redishappy uses; any other is a 400 here)

Like Consul, every write is one Raft index: a global index that advances on
each write, stored as the entry's ModifyIndex (CreateIndex when created) and
sent as X-Consul-Index. A Service "cas" with ModifyIndex 0 succeeds only if
the entry does not exist, with N only if its ModifyIndex is N; a failed
operation rolls the whole transaction back and answers 409 with Errors.

Control interface, on its own port so it survives "down" (all POST):
  /delay?s=N     answer every API request N seconds late (0 to stop)
  /down          close the API listener (connection refused)
  /up            listen again on the same port
  /token?value=T demand X-Consul-Token T (empty value: no token needed)
  /requests      GET: JSON count of API requests seen, per path
  /history       GET: JSON list of every successful write of a service, in
                 order: {"index", "how", "node", "id", "address", "port", "meta"}
  /race          POST a JSON service entry {"Node", "ServiceID", "Service",
                 "Address", "Port", "Meta"}: written (as another writer would)
                 right after the next GET /v1/catalog/service/ is answered
                 from the catalog, before the reply is sent -- so the reader's
                 ModifyIndex is stale by the time it writes.
  /pad?bytes=N   every GET /v1/catalog/service/ reply also holds another
                 instance's entry with N bytes of Meta (0 to stop): a reply
                 larger than a client's cap on what it reads

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
# /v1/txn: each operation holds exactly one of these.
TXN_NODE_OP = {"Verb": STR, "Node": OBJ}
TXN_SERVICE_OP = {"Verb": STR, "Node": STR, "Service": OBJ}
TXN_NODE = {
    "ID": STR, "Node": STR, "Address": STR, "Datacenter": STR, "TaggedAddresses": MAP_STR,
    "Meta": MAP_STR, "Partition": STR, "CreateIndex": INT, "ModifyIndex": INT,
}
TXN_SERVICE = dict(SERVICE_FIELDS, CreateIndex=INT, ModifyIndex=INT)
MAX_TXN_OPS = 128


class BadRequest(Exception):
    pass


class TxnFailed(Exception):
    def __init__(self, op_index, what):
        Exception.__init__(self, what)
        self.op_index, self.what = op_index, what


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
        self.nodes = {}  # node name -> {"Node", "Address", "Meta", ...}
        self.requests = {}
        self.index = 1  # the Raft index of the last write
        self.history = []
        self.race = None  # an entry to write after the next catalog read
        self.pad = 0  # bytes of padding Meta in an extra entry of every catalog read

    def write(self, key, entry, how, new_index=True):
        """Stores a service entry at a new index, or at the current one when
        a transaction commits several writes at one (the caller holds the lock)."""
        if new_index:
            self.index += 1
        old = self.catalog.get(key)
        entry["CreateIndex"] = old["CreateIndex"] if old else self.index
        entry["ModifyIndex"] = self.index
        self.catalog[key] = entry
        self.history.append({
            "index": self.index, "how": how, "node": key[0], "id": key[1],
            "address": entry["ServiceAddress"], "port": entry["ServicePort"],
            "meta": dict(entry["ServiceMeta"])})

    def delete(self, key, how):
        self.index += 1
        del self.catalog[key]
        self.history.append({"index": self.index, "how": how, "node": key[0], "id": key[1],
                             "address": None, "port": None, "meta": {}})


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
        with self.state.lock:
            index = self.state.index
        self.send_header("X-Consul-Index", str(index))
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
                found = [dict(e) for e in st.catalog.values() if e["ServiceName"] == name]
                if st.pad:
                    found.append(service_entry({"Node": "padding", "ID": "padding",
                                                "Service": name,
                                                "Meta": {"padding": "x" * st.pad}}))
                if st.race:
                    race, st.race = st.race, None
                    st.write((race["Node"], race["ServiceID"]), service_entry(race), "race")
                return 200, found
        if method == "PUT" and path == "/v1/txn":
            return self.txn(self.read_json())
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
                if (AGENT_NODE, sid) not in st.catalog:
                    return 404, 'Unknown service ID "%s". Ensure that the service ID is passed, not the service name.\n' % sid
                st.delete((AGENT_NODE, sid), "agent/deregister")
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
            self.state.nodes[body["Node"]] = {
                "ID": body.get("ID", ""), "Node": body["Node"], "Address": body["Address"],
                "Datacenter": body.get("Datacenter", "dc1"),
                "TaggedAddresses": body.get("TaggedAddresses"), "Meta": body.get("NodeMeta") or {}}
            self.state.write((body["Node"], sid), entry, "catalog/register")
        return 200, True

    def txn(self, ops):
        """PUT /v1/txn: all operations or none (state copied, swapped on success)."""
        if not isinstance(ops, list):
            raise BadRequest("Request decode failed: body is not an array")
        if len(ops) > MAX_TXN_OPS:
            raise BadRequest("Transaction contains too many operations (%d > %d)"
                             % (len(ops), MAX_TXN_OPS))
        for i, op in enumerate(ops):
            if not isinstance(op, dict) or len(op) != 1 or \
                    next(iter(op)) not in ("Node", "Service"):
                raise BadRequest("Request decode failed: operation %d: the fake implements "
                                 "only Node and Service operations" % i)
            kind, body = next(iter(op.items()))
            check_object(body, TXN_NODE_OP if kind == "Node" else TXN_SERVICE_OP, kind + ".")
            if kind == "Node":
                check_object(body.get("Node"), TXN_NODE, "Node.Node.")
                if body.get("Verb") != "set":
                    raise BadRequest('Unsupported verb "%s" in the fake' % body.get("Verb"))
            else:
                check_object(body.get("Service"), TXN_SERVICE, "Service.Service.")
                if body.get("Verb") not in ("cas", "delete-cas"):
                    raise BadRequest('Unsupported verb "%s" in the fake' % body.get("Verb"))
        st = self.state
        with st.lock:
            nodes, catalog = dict(st.nodes), dict(st.catalog)
            results, writes = [], []
            try:
                for i, op in enumerate(ops):
                    kind, body = next(iter(op.items()))
                    if kind == "Node":
                        results.append({"Node": self.txn_node(i, body["Node"], nodes)})
                    else:
                        r = self.txn_service(i, body, nodes, catalog, writes)
                        if r is not None:
                            results.append({"Service": r})
            except TxnFailed as e:
                return 409, {"Results": None,
                             "Errors": [{"OpIndex": e.op_index, "What": e.what}]}
            # Commit: one Raft index for the whole transaction.
            st.nodes = nodes
            st.index += 1
            for how, key, entry in writes:
                if entry is None:
                    st.catalog.pop(key, None)
                    st.history.append({"index": st.index, "how": how, "node": key[0],
                                       "id": key[1], "address": None, "port": None, "meta": {}})
                    continue
                st.write(key, entry, how, new_index=False)
            for r in results:
                svc = r.get("Service")
                if svc is not None:
                    entry = st.catalog[(svc.pop("_node"), svc["ID"])]
                    svc["CreateIndex"], svc["ModifyIndex"] = \
                        entry["CreateIndex"], entry["ModifyIndex"]
        return 200, {"Results": results, "Errors": None}

    def txn_node(self, i, node, nodes):
        if not node.get("Node"):
            raise TxnFailed(i, "Must provide node")
        if not node.get("Address"):
            raise TxnFailed(i, "Must provide address")
        stored = {
            "ID": node.get("ID", ""), "Node": node["Node"], "Address": node["Address"],
            "Datacenter": node.get("Datacenter", "dc1"),
            "TaggedAddresses": node.get("TaggedAddresses"), "Meta": node.get("Meta") or {}}
        nodes[node["Node"]] = stored
        return dict(stored)

    def txn_service(self, i, op, nodes, catalog, writes):
        node, svc = op.get("Node"), op["Service"]
        if not node:
            raise TxnFailed(i, "Must provide node")
        if not svc.get("ID") and not svc.get("Service"):
            raise TxnFailed(i, "Must provide a service ID or name")
        sid = svc.get("ID") or svc["Service"]
        if node not in nodes:
            raise TxnFailed(i, 'node lookup failed: node "%s" is not registered' % node)
        key = (node, sid)
        existing = catalog.get(key)
        want = svc.get("ModifyIndex", 0)
        if op["Verb"] == "delete-cas":
            if existing is None or existing["ModifyIndex"] != want:
                raise TxnFailed(i, 'failed to delete service "%s" on node "%s": index %d is '
                                'not the current one' % (sid, node, want))
            del catalog[key]
            writes.append(("txn/delete-cas", key, None))
            return None
        if not svc.get("Service"):
            raise TxnFailed(i, "Must provide service name")
        # cas: 0 means "only if absent", N "only if its ModifyIndex is N".
        if (want == 0 and existing is not None) or (want != 0 and (
                existing is None or existing["ModifyIndex"] != want)):
            raise TxnFailed(i, 'failed to set service "%s" on node "%s": index %d is not '
                            'the current one' % (sid, node, want))
        entry = service_entry(dict(svc, Node=node, ServiceID=sid), nodes[node])
        entry["CreateIndex"] = entry["ModifyIndex"] = None  # set at commit
        catalog[key] = entry
        writes.append(("txn/cas", key, entry))
        result = {k: svc.get(k) for k in ("ID", "Service", "Tags", "Address", "Meta", "Port")}
        result["ID"] = sid
        result["_node"] = node
        return result

    def catalog_deregister(self, body):
        check_object(body, CATALOG_DEREGISTER)
        if not body.get("Node"):
            raise BadRequest("Must provide node")
        with self.state.lock:
            if body.get("ServiceID"):
                if (body["Node"], body["ServiceID"]) in self.state.catalog:
                    self.state.delete((body["Node"], body["ServiceID"]), "catalog/deregister")
            else:
                for key in [k for k in self.state.catalog if k[0] == body["Node"]]:
                    self.state.delete(key, "catalog/deregister")
                self.state.nodes.pop(body["Node"], None)
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
            self.state.write((AGENT_NODE, sid), entry, "agent/register")
        return 200, ""


def service_entry(svc, node=None):
    """A /v1/catalog/service/ entry from a txn service (or a /race body)."""
    node = node or {"ID": "", "Address": svc.get("Address", ""), "Datacenter": "dc1",
                    "TaggedAddresses": None, "Meta": {}}
    return {
        "ID": node.get("ID", ""), "Node": svc["Node"], "Address": node["Address"],
        "Datacenter": node.get("Datacenter", "dc1"), "TaggedAddresses": node.get("TaggedAddresses"),
        "NodeMeta": node.get("Meta") or {}, "ServiceKind": svc.get("Kind", ""),
        "ServiceID": svc.get("ServiceID") or svc.get("ID"), "ServiceName": svc["Service"],
        "ServiceTags": svc.get("Tags") or [], "ServiceAddress": svc.get("Address", ""),
        "ServiceMeta": svc.get("Meta") or {}, "ServicePort": svc.get("Port", 0),
        "ServiceEnableTagOverride": svc.get("EnableTagOverride", False),
    }


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
            if self.path == "/history":
                with fake.state.lock:
                    self.reply(200, json.dumps(fake.state.history))
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
            elif url.path == "/race":
                length = int(self.headers.get("Content-Length") or 0)
                race = json.loads(self.rfile.read(length))
                with fake.state.lock:
                    fake.state.race = race
            elif url.path == "/pad":
                with fake.state.lock:
                    fake.state.pad = int(q.get("bytes", "0"))
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
