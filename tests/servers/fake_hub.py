#!/usr/bin/env python3
"""Local stand-ins for the Hugging Face Hub, its CDN and Cloud Storage, for
orqa's tests and benchmarks. Standard library only; binds 127.0.0.1.

  fake_hub.py serve --repo ORG/NAME=DIR ... [--bucket NAME=DIR ...] [--log FILE]
              [--private ORG/NAME=TOKEN] [--alias OLD/NAME=ORG/NAME]
              [--requester-pays BUCKET] [--page-size N] [--ports-file FILE]
  fake_hub.py write-npy OUT.npy < texts.jsonl   (an object array of bytes, as np.save writes it)
  fake_hub.py write-tfrecord OUT.tfr < texts.jsonl   (one raw record per text, as ORQA's blocks.tfr)

serve prints {"hub": PORT, "cdn": PORT, "gcs": PORT} as one JSON line (and to
--ports-file). The Hub answers HEAD/GET /ORG/NAME/resolve/REV/PATH the way
huggingface.co does: X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, and
for LFS files a 302 to the CDN port; the tree API
/api/models/ORG/NAME/tree/REV?recursive=true is paginated by Link rel="next".
Cloud Storage: the JSON listing /storage/v1/b/BUCKET/o?prefix=&pageToken=
(size, crc32c, md5Hash) and downloads from /BUCKET/OBJECT. Downloads honour
Range: bytes=N-. Every request is logged as one JSON line (method, path,
range, whether an Authorization header came). Faults are set with
POST /_control on the hub port: {"drop_at": 0.4} cuts each body after 40 %
of the file; {"corrupt": true} flips a byte; {"inflate": true} reports 1 PB
sizes; {"missing": PATH} answers 404 for that file; {"unavailable": N} answers
the next N downloads with 503; {"ignore_range": true} answers Range requests
with the whole file (200); {} clears them.
"""
import base64
import hashlib
import json
import os
import socketserver
import struct
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".bin", ".npy", ".safetensors", ".ckpt", ".h5", ".msgpack", ".pt", ".tfr")
FAULTS = {}
LOG_LOCK = threading.Lock()
LOG_FILE = None


def crc32c(data, crc=0):
    table = crc32c.table
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


crc32c.table = _table()


def file_hashes(path, want_crc=False):
    """sha256, git blob id, size; crc32c and md5 (Cloud Storage) when want_crc."""
    sha256, md5, size, crc = hashlib.sha256(), hashlib.md5(), 0, 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            sha256.update(chunk)
            if want_crc:
                md5.update(chunk)
                crc = crc32c(chunk, crc)
            size += len(chunk)
    git = hashlib.sha1(b"blob %d\0" % size)
    if size < (64 << 20):  # files kept in git are small; an LFS file's id is its sha256
        with open(path, "rb") as f:
            git.update(f.read())
    return {"sha256": sha256.hexdigest(), "md5": md5.digest(), "size": size, "crc32c": crc,
            "git": git.hexdigest()}


class Repo:
    def __init__(self, name, root):
        self.name, self.root, self.files = name, root, {}
        for d, _, names in os.walk(root, followlinks=True):
            for n in sorted(x for x in names if not x.startswith(".") and not x.endswith(".done")):
                path = os.path.join(d, n)
                rel = os.path.relpath(path, root)
                h = file_hashes(path)
                lfs = rel.endswith(LFS_SUFFIXES) or h["size"] > (10 << 20)
                self.files[rel] = dict(h, path=path, lfs=lfs)
        digest = hashlib.sha1()
        for rel in sorted(self.files):
            digest.update(rel.encode() + self.files[rel]["sha256"].encode())
        self.commit = digest.hexdigest()


def log(entry):
    if LOG_FILE is None:
        return
    with LOG_LOCK:
        with open(LOG_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub"

    def log_message(self, *args):
        pass

    def record(self, role):
        log({"role": role, "method": self.command, "path": self.path,
             "range": self.headers.get("Range"), "authorization": self.headers.get("Authorization") is not None})

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_file(self, path, size):
        """The file or its Range: bytes=N- tail, with the configured faults."""
        start = 0
        rng = self.headers.get("Range")
        if FAULTS.get("unavailable", 0) > 0:  # a 503 for the next N downloads
            FAULTS["unavailable"] -= 1
            return self.reply(503, "try again", {"Retry-After": "1"}, content_type="text/plain")
        if rng and rng.startswith("bytes=") and rng.endswith("-") and not FAULTS.get("ignore_range"):
            start = int(rng[6:-1])
            if start >= size:
                return self.reply(416, "", {"Content-Range": "bytes */%d" % size})
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if self.command == "HEAD":
            return
        if not any(FAULTS.values()):  # the fast path: the kernel copies the file to the socket
            self.wfile.flush()
            with open(path, "rb") as f:
                pos = start
                while pos < size:
                    sent = os.sendfile(self.connection.fileno(), f.fileno(), pos, min(1 << 30, size - pos))
                    if sent <= 0:
                        break
                    pos += sent
            return
        stop = size
        if "drop_at" in FAULTS:
            stop = max(start, min(size, int(size * FAULTS["drop_at"])))
        with open(path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < stop:
                chunk = f.read(min(1 << 20, stop - pos))
                if not chunk:
                    break
                if FAULTS.get("corrupt") and pos <= size // 2 < pos + len(chunk):
                    i = size // 2 - pos
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                self.wfile.write(chunk)
                pos += len(chunk)
        if stop < size:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)


class HubHandler(Handler):
    def do_POST(self):
        if self.path == "/_control":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            FAULTS.clear()
            FAULTS.update(json.loads(body or b"{}"))
            return self.reply(200, {"faults": FAULTS})
        return self.reply(404, {"error": "not found"})

    def auth_error(self, name):
        token = self.server.private.get(name)
        if token is None:
            return False
        if self.headers.get("Authorization") != "Bearer " + token:
            self.reply(401, {"error": "Invalid credentials in Authorization header"},
                       {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Invalid credentials in Authorization header"})
            return True
        return False

    def do_GET(self):
        self.record("hub")
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] == "tree":
            return self.tree(parts[2] + "/" + parts[3], urllib.parse.unquote(parts[5]), url.query)
        return self.resolve(parts)

    def do_HEAD(self):
        self.record("hub")
        return self.resolve(urllib.parse.urlsplit(self.path).path.strip("/").split("/"))

    def open_repo(self, name, rev):
        """The repo, or None once the Hub's error answer (404 / 401) is sent."""
        repo = self.server.repos.get(name)
        if repo is None:
            self.reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        elif self.auth_error(name):
            return None
        elif rev not in ("main", repo.commit):
            self.reply(404, {"error": "Invalid rev id: " + rev}, {"X-Error-Code": "RevisionNotFound"})
            return None
        return repo

    def tree(self, name, rev, query):
        name = self.server.aliases.get(name, name)
        repo = self.open_repo(name, rev)
        if repo is None:
            return
        q = urllib.parse.parse_qs(query)
        cursor = int(q.get("cursor", ["0"])[0])
        names = sorted(repo.files)
        entries = []
        dirs = sorted({os.path.dirname(n) for n in names if os.path.dirname(n)})
        for d in dirs:
            entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": d})
        for n in names:
            f = repo.files[n]
            e = {"type": "file", "oid": f["git"], "size": f["size"], "path": n}
            if f["lfs"]:
                e["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": 134}
            entries.append(e)
        page = entries[cursor:cursor + self.server.page_size]
        headers = {}
        if cursor + self.server.page_size < len(entries):
            nxt = "http://127.0.0.1:%d/api/models/%s/tree/%s?recursive=true&expand=false&cursor=%d" % (
                self.server.server_address[1], name, urllib.parse.quote(rev, safe=""), cursor + self.server.page_size)
            headers["Link"] = '<%s>; rel="next"' % nxt
        return self.reply(200, page, headers)

    def resolve(self, parts):
        if len(parts) < 5 or parts[2] != "resolve":
            return self.reply(404, {"error": "not found"})
        name = parts[0] + "/" + parts[1]
        if name in self.server.aliases:  # a renamed repo: a relative redirect
            target = "/" + self.server.aliases[name] + "/" + "/".join(parts[2:])
            return self.reply(307, "", {"Location": target})
        path = urllib.parse.unquote("/".join(parts[4:]))
        repo = self.open_repo(name, urllib.parse.unquote(parts[3]))
        if repo is None:
            return
        f = repo.files.get(path)
        if f is None or FAULTS.get("missing") == path:
            return self.reply(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound",
                                                                   "X-Repo-Commit": repo.commit})
        size = (1 << 50) if FAULTS.get("inflate") else f["size"]
        if f["lfs"]:
            cdn = "http://127.0.0.1:%d/blobs/%s?expires=9999999999" % (self.server.cdn_port, f["sha256"])
            return self.reply(302, "", {"Location": cdn, "X-Repo-Commit": repo.commit, "ETag": '"%s"' % f["git"],
                                        "X-Linked-Etag": '"%s"' % f["sha256"], "X-Linked-Size": str(size)})
        self.send_response(200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", '"%s"' % f["git"])
        if self.command == "HEAD":
            self.send_header("Content-Length", str(size))
            self.end_headers()
            return
        return self.send_file_with_headers(f)

    def send_file_with_headers(self, f):
        # Headers were started by resolve(); finish them through send_file's path.
        self._headers_buffer = []  # restart: send_file writes its own status line
        return self.send_file(f["path"], f["size"])


class CdnHandler(Handler):
    def do_GET(self):
        self.record("cdn")
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/blobs/"):
            return self.reply(404, "not found", content_type="text/plain")
        sha = path[len("/blobs/"):]
        for repo in self.server.repos.values():
            for f in repo.files.values():
                if f["sha256"] == sha:
                    return self.send_file(f["path"], f["size"])
        return self.reply(404, "no such blob", content_type="text/plain")


class GcsHandler(Handler):
    def do_GET(self):
        self.record("gcs")
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        if parts[:3] == ["storage", "v1", "b"] and len(parts) == 5 and parts[4] == "o":
            return self.listing(urllib.parse.unquote(parts[3]), q)
        bucket = urllib.parse.unquote(parts[0])
        name = urllib.parse.unquote("/".join(parts[1:]))
        objects = self.server.buckets.get(bucket)
        if objects is None:
            return self.reply(404, "<Error><Code>NoSuchBucket</Code></Error>", content_type="application/xml")
        if bucket in self.server.requester_pays and "userProject" not in q:
            return self.reply(400, "<Error><Code>UserProjectMissing</Code><Message>Bucket is a requester pays bucket "
                                   "but no user project provided.</Message></Error>", content_type="application/xml")
        o = objects.get(name)
        if o is None:
            return self.reply(404, "<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
        return self.send_file(o["path"], o["size"])

    def listing(self, bucket, q):
        objects = self.server.buckets.get(bucket)
        if objects is None:
            return self.reply(404, {"error": {"code": 404, "message": "The specified bucket does not exist."}})
        if bucket in self.server.requester_pays and "userProject" not in q:
            return self.reply(400, {"error": {"code": 400, "message": "Bucket is a requester pays bucket but no user "
                                              "project provided.", "errors": [{"reason": "required",
                                              "message": "UserProjectMissing"}]}})
        prefix = q.get("prefix", [""])[0]
        start = int(q.get("pageToken", ["0"])[0])
        names = [n for n in sorted(objects) if n.startswith(prefix)]
        page = names[start:start + self.server.page_size]
        items = []
        for n in page:
            o = objects[n]
            items.append({"kind": "storage#object", "name": n, "bucket": bucket, "size": str(o["size"]),
                          "crc32c": base64.b64encode(struct.pack(">I", o["crc32c"])).decode(),
                          "md5Hash": base64.b64encode(o["md5"]).decode()})
        body = {"kind": "storage#objects"}
        if items:
            body["items"] = items
        if start + self.server.page_size < len(names):
            body["nextPageToken"] = str(start + self.server.page_size)
        return self.reply(200, body)


def serve(args):
    global LOG_FILE
    repos, buckets, private, aliases, requester_pays = {}, {}, {}, {}, set()
    page_size, ports_file = 2, None
    i = 0
    while i < len(args):
        flag, value = args[i], args[i + 1] if i + 1 < len(args) else None
        i += 2
        if flag == "--repo":
            name, root = value.split("=", 1)
            repos[name] = Repo(name, root)
        elif flag == "--bucket":
            name, root = value.split("=", 1)
            objects = {}
            for d, _, names in os.walk(root):
                for n in sorted(names):
                    path = os.path.join(d, n)
                    objects[os.path.relpath(path, root)] = dict(file_hashes(path, want_crc=True), path=path)
            buckets[name] = objects
        elif flag == "--private":
            name, token = value.split("=", 1)
            private[name] = token
        elif flag == "--alias":
            old, new = value.split("=", 1)
            aliases[old] = new
        elif flag == "--requester-pays":
            requester_pays.add(value)
        elif flag == "--page-size":
            page_size = int(value)
        elif flag == "--log":
            LOG_FILE = value
        elif flag == "--ports-file":
            ports_file = value
        else:
            sys.exit("fake_hub.py: unknown flag " + flag)
    servers = {}
    for role, handler in (("cdn", CdnHandler), ("hub", HubHandler), ("gcs", GcsHandler)):
        s = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        s.daemon_threads = True
        s.repos, s.buckets, s.private, s.aliases = repos, buckets, private, aliases
        s.requester_pays, s.page_size = requester_pays, page_size
        servers[role] = s
    for s in servers.values():
        s.cdn_port = servers["cdn"].server_address[1]
    ports = json.dumps({role: s.server_address[1] for role, s in servers.items()})
    if ports_file:
        with open(ports_file + ".tmp", "w") as f:
            f.write(ports + "\n")
        os.rename(ports_file + ".tmp", ports_file)
    print(ports, flush=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for t in threads:
        t.start()
    threading.Event().wait()


def write_npy(out):
    """An object array of bytes exactly as numpy 1.24's np.save (pickle protocol 3) writes it."""
    texts = [json.loads(line) for line in sys.stdin if line.strip()]
    items = [t.encode() if isinstance(t, str) else bytes(t) for t in texts]
    n = len(items)
    memo = [14]

    def put():
        i = memo[0]
        memo[0] += 1
        return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    def int_op(v):
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v) if v < 65536 else b"J" + struct.pack("<i", v)

    body = (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02C\x01bq\x03"
            b"\x87q\x04Rq\x05(K\x01" + int_op(n) + b"\x85q\x06cnumpy\ndtype\nq\x07X\x02\x00\x00\x00O8q\x08\x89\x88"
            b"\x87q\tRq\n(K\x03X\x01\x00\x00\x00|q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tq\x0cb\x89]q\r")
    for start in range(0, n, 1000):
        batch = items[start:start + 1000]
        body += b"(" if len(batch) > 1 else b""
        for b in batch:
            body += (b"C" + bytes([len(b)]) if len(b) < 256 else b"B" + struct.pack("<I", len(b))) + b + put()
        body += b"e" if len(batch) > 1 else b"a"
    body += b"t" + put() + b"b."
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (%d,), }" % n
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body)


def write_tfrecord(out):
    def masked(crc):
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    with open(out, "wb") as f:
        for line in sys.stdin:
            if not line.strip():
                continue
            data = json.loads(line).encode()
            length = struct.pack("<Q", len(data))
            f.write(length + struct.pack("<I", masked(crc32c(length))) + data +
                    struct.pack("<I", masked(crc32c(data))))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-npy":
        write_npy(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-tfrecord":
        write_tfrecord(sys.argv[2])
    else:
        sys.exit(__doc__)
