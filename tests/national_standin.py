"""A stand-in for the national database: a real HTTPS server that tests start.

Its certificate is issued at test time by a CA made with ``cryptography``; clients verify
it against that CA's file. Every request and every answer is validated against the
exchange's OpenAPI document (``operations/national_exchange.openapi.yaml``): what does not
match is answered 400 and kept in ``invalid``, which tests expect empty.

It keeps what it received under each idempotency key (a second submission with the same
key is answered with the first acknowledgement, ``duplicate: true``) and injects faults on
demand, one per request to ``/v1/records``, from ``faults``:

* ``timeout`` — answers too late, having stored nothing; ``timeout_after_store`` — stores,
  then answers too late (the client never learns it was received);
* ``error_500`` — answers 500 having stored nothing;
* ``drop`` — closes the connection without answering; ``drop_after_store`` — the same after
  storing;
* ``duplicate_ack`` — stores and sends its acknowledgement twice on the connection.

``stall_after`` makes it keep the answer to the n-th new submission back (after storing it)
until ``release`` is set: a client can be killed while it waits.

Arrivals (``arrivals``) are listed until confirmed; with ``shuffle_arrivals`` they come in
reverse order, the first one listed twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from operations.national_sync import SPECIFICATION

TOKEN = "standin-agency-token"
SERVER = "https://csdlqg.example.gov.vn"
LATE = 1.2  # seconds an answer comes "too late": above the clients' timeout in the tests

_openapi: OpenAPI | None = None


def openapi() -> OpenAPI:
    global _openapi
    if _openapi is None:
        problem: dict[str, Callable[[bytes], Any]] = {
            "application/problem+json": json.loads
        }  # RFC 9457 errors are JSON
        _openapi = OpenAPI.from_file_path(
            str(SPECIFICATION), config=Config(extra_media_type_deserializers=problem)
        )
    return _openapi


# -- certificates ----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for localhost it issued: (CA file, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("CSDLQG stand-in CA"))
        .issuer_name(_name("CSDLQG stand-in CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (
        directory / "standin-ca.pem",
        directory / "standin.pem",
        directory / "standin.key",
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


# -- the server ------------------------------------------------------------------------------


@dataclass
class Received:
    payload: dict[str, Any]
    ack: dict[str, Any]


@dataclass
class NationalStandIn:
    ca_file: Path
    url: str
    received: dict[str, Received] = field(default_factory=dict)  # by idempotency key
    order: list[str] = field(default_factory=list)  # keys in the order first received
    submissions: list[str] = field(default_factory=list)  # every submission's key
    faults: deque[str] = field(default_factory=deque)
    invalid: list[str] = field(default_factory=list)
    arrivals: dict[str, dict[str, Any]] = field(default_factory=dict)  # by arrival id
    confirmed: dict[str, str] = field(default_factory=dict)  # arrival id -> record id
    shuffle_arrivals: bool = False
    stall_after: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def records_of(self, record_id: str) -> list[dict[str, Any]]:
        """What was received for one profile, in the order received."""
        return [
            self.received[k].payload
            for k in self.order
            if self.received[k].payload["record_id"] == record_id
        ]

    def add_arrival(self, arrival: dict[str, Any]) -> None:
        self.arrivals[arrival["arrival_id"]] = arrival


def _handler(standin: NationalStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("get")

        def do_POST(self) -> None:
            self._handle("post")

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            pattern, view_args = _route(url.path)
            request = MockRequest(
                SERVER,  # the server the document names, which this one stands in for
                method,
                url.path,
                path_pattern=pattern,
                args=dict(parse_qsl(url.query)),
                view_args=view_args,
                headers=dict(self.headers.items()),
                data=body,
                content_type=self.headers.get("Content-Type") or "application/json",
            )
            try:
                openapi().validate_request(request)
            except Exception as exc:
                problem = f"{method.upper()} {url.path}: {exc}"
                standin.invalid.append(problem)
                self._send(request, 400, {"title": "invalid request", "status": 400})
                return
            if pattern == "/v1/records":
                self._submit(request, json.loads(body))
            elif pattern == "/v1/arrivals":
                self._list_arrivals(request)
            else:
                self._confirm(request, view_args["arrival_id"], json.loads(body))

        def _submit(self, request: MockRequest, payload: dict[str, Any]) -> None:
            key = self.headers["Idempotency-Key"]
            with standin.lock:
                standin.submissions.append(key)
                fault = standin.faults.popleft() if standin.faults else None
            if fault == "timeout":
                time.sleep(LATE)
                return self._drop()
            if fault == "error_500":
                return self._send(request, 500, {"title": "lỗi máy chủ", "status": 500})
            if fault == "drop":
                return self._drop()
            with standin.lock:
                first = standin.received.get(key)
                if first is not None and first.payload != payload:
                    status, answer = 409, {"title": "key reused", "status": 409}
                elif first is not None:
                    status, answer = 200, {**first.ack, "duplicate": True}
                else:
                    ack = {
                        "idempotency_key": key,
                        "receipt_id": f"BN-{len(standin.order) + 1:06d}",
                        "national_record_id": f"QG-{payload['citizen_id']}",
                        "received_at": dt.datetime.now(dt.UTC).isoformat(),
                        "duplicate": False,
                    }
                    standin.received[key] = Received(payload, ack)
                    standin.order.append(key)
                    status, answer = 201, ack
                stall = first is None and standin.stall_after == len(standin.order)
            if stall:
                standin.stalled.set()
                standin.release.wait(30)
            if fault == "timeout_after_store":
                time.sleep(LATE)
                return self._drop()
            if fault == "drop_after_store":
                return self._drop()
            self._send(request, status, answer, twice=fault == "duplicate_ack")

        def _list_arrivals(self, request: MockRequest) -> None:
            waiting = [a for i, a in standin.arrivals.items() if i not in standin.confirmed]
            if standin.shuffle_arrivals and waiting:
                waiting = [*reversed(waiting), waiting[0]]
            self._send(request, 200, {"arrivals": waiting})

        def _confirm(self, request: MockRequest, arrival_id: str, body: dict[str, Any]) -> None:
            if arrival_id not in standin.arrivals:
                return self._send(request, 404, {"title": "no such arrival", "status": 404})
            standin.confirmed.setdefault(arrival_id, body["record_id"])
            self._send(request, 200, {"arrival_id": arrival_id, "confirmed": True})

        def _send(
            self, request: MockRequest, status: int, body: dict[str, Any], *, twice: bool = False
        ) -> None:
            data = json.dumps(body).encode()
            kind = "application/json" if status < 400 else "application/problem+json"
            try:
                openapi().validate_response(request, MockResponse(data, status, content_type=kind))
            except Exception as exc:
                standin.invalid.append(f"answer {status} to {request.path}: {exc}")
            for _ in range(2 if twice else 1):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            if twice:
                self.close_connection = True

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


def _route(path: str) -> tuple[str, dict[str, str]]:
    parts = path.strip("/").split("/")
    if len(parts) == 4 and parts[:2] == ["v1", "arrivals"] and parts[3] == "receipt":
        return "/v1/arrivals/{arrival_id}/receipt", {"arrival_id": parts[2]}
    return path, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up (the faults) are expected


def start(directory: Path) -> tuple[NationalStandIn, ThreadingHTTPServer]:
    ca_file, cert_file, key_file = make_certificates(directory)
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    standin = NationalStandIn(ca_file=ca_file, url=f"https://localhost:{port}")
    server.RequestHandlerClass = _handler(standin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return standin, server


def arrival(
    citizen_id: str,
    *,
    unit_code: str = "SNV",
    origin_body: str = "Bộ Tài chính",
    number: str = "88/QĐ-BTC",
    effective_date: str = "2026-11-02",
    full_name: str = "Trần Thị Bình",
) -> dict[str, Any]:
    """An arrival as the national database lists it."""
    return {
        "arrival_id": str(uuid.uuid4()),
        "national_record_id": f"QG-{citizen_id}",
        "citizen_id": citizen_id,
        "origin_body": origin_body,
        "decision": {"number": number, "signed_on": "2026-10-20", "issuer": origin_body},
        "effective_date": effective_date,
        "unit_code": unit_code,
        "record": {
            "identity": {
                "full_name": full_name,
                "gender": "female",
                "birth_date": "1990-05-06",
                "ethnicity": "01",
            },
            "employment": {
                "category": "civil_servant",
                "department": "Phòng Tổ chức",
                "position": "Chuyên viên",
                "rank_code": "01.003",
                "salary_step": 2,
            },
        },
    }
