"""``hoso pki``: a local certificate hierarchy for demo and tests, PKCS#12 import,
revocation and the list of registered certificates.

``pki init`` makes a root authority, an issuing authority and the agency's certificate;
the root goes into ``trust-anchors.pem``, the issuing authority into ``intermediates.pem``
(both in ``<data_dir>/pki/`` unless ``--dir``), the authorities' keys into ``<dir>/ca/`` and
the agency's key into the keystore, all encrypted with the keystore passphrase
(``--passphrase`` or ``HOSO_KEYSTORE_PASSPHRASE``). Bad input changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
from cryptography import x509
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domain.application import Ledger
from domain.certificate import Certificate, normalise_fingerprint
from domain.errors import DomainError, NotFound
from domain.jurisdiction import load_jurisdiction
from domain.settings import Settings
from domain.values import Actor, Role
from signing import keystore, pki, registry
from signing.signatures import PrivateKey
from signing.signatures import fingerprint as fingerprint_of

app = typer.Typer(
    help="Certificates: local hierarchy, signer certificates, PKCS#12 import, revocation.",
    no_args_is_help=True,
)
console = Console()

PASSPHRASE_VARIABLE = "HOSO_KEYSTORE_PASSPHRASE"
ROOT, ISSUING = "root-ca", "issuing-ca"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

Passphrase = Annotated[
    str | None,
    typer.Option(
        envvar=PASSPHRASE_VARIABLE,
        show_default=False,
        help=f"passphrase of the keystore and the authorities' keys (or {PASSPHRASE_VARIABLE})",
    ),
]
PkiDir = Annotated[
    Path | None,
    typer.Option("--dir", help="where the hierarchy lives (default: <data_dir>/pki)"),
]
By = Annotated[str, typer.Option("--by", help="account recorded as acting")]


def say(message: str, *, label: str = "") -> None:
    """Plain text (no markup from data), after an optional coloured label."""
    console.print(f"{label}{escape(message)}", soft_wrap=True)


def fail(message: str) -> NoReturn:
    say(message, label="[red]error:[/red] ")
    raise typer.Exit(code=1)


def _actor(account: str) -> Actor:
    if not account.strip():
        fail("--by names the acting account")
    return Actor(account=account.strip(), role=Role.ADMINISTRATOR, unit_code="")


def _pki_dir(settings: Settings, directory: Path | None) -> Path:
    return directory if directory is not None else settings.data_dir / "pki"


def _key_type(value: str) -> str:
    value = value.strip().lower()
    if value not in pki.KEY_TYPES:
        fail(f"--key is one of {', '.join(pki.KEY_TYPES)}, not {value!r}")
    return value


@contextmanager
def _ledger(settings: Settings) -> Iterator[Ledger]:
    ledger = Ledger(settings)
    try:
        yield ledger
    finally:
        ledger.close()


@contextmanager
def _undo_on_failure() -> Iterator[list[Callable[[], None]]]:
    """Steps already done register how to undo themselves; a failure undoes them all."""
    undo: list[Callable[[], None]] = []
    try:
        yield undo
    except BaseException:
        for step in reversed(undo):
            step()
        raise


def _write_new(path: Path, content: bytes, undo: list[Callable[[], None]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    undo.append(lambda: path.unlink(missing_ok=True))


def _store(
    directory: Path,
    account: str,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    passphrase: str,
    undo: list[Callable[[], None]],
    *,
    replace: bool = False,
) -> None:
    target = keystore.path_for(directory, account)
    previous = target.read_bytes() if target.exists() else None
    keystore.store(directory, account, key, certificate, chain, passphrase, replace=replace)

    def restore() -> None:
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(previous)

    undo.append(restore)


def _refuse_registered(ledger: Ledger, fingerprint: str) -> None:
    try:
        registry.certificate(ledger, fingerprint)
    except NotFound:
        return
    fail(f"certificate {fingerprint} is registered already")


@app.command()
def init(
    directory: PkiDir = None,
    passphrase: Passphrase = None,
    agency: Annotated[
        str | None, typer.Option(help="the agency's name (default: the jurisdiction's)")
    ] = None,
    agency_account: Annotated[
        str, typer.Option(help="keystore account of the agency's key")
    ] = "agency",
    key: Annotated[str, typer.Option(help="key type: ec or rsa")] = "ec",
    by: By = "admin",
) -> None:
    """Make a local root, issuing authority and agency certificate (demo and tests)."""
    settings = Settings()
    target = _pki_dir(settings, directory)
    keys_dir = keystore.default_directory(settings)
    key_type = _key_type(key)
    actor = _actor(by)
    try:
        secret = keystore.check_passphrase(passphrase)
        anchors, intermediates = target / "trust-anchors.pem", target / "intermediates.pem"
        if anchors.exists() or intermediates.exists() or (target / "ca").exists():
            fail(f"{target} holds a hierarchy already; give another --dir")
        if keystore.has(keys_dir, agency_account):
            fail(f"the keystore already holds a key for {agency_account}")
        agency_name = (agency or load_jurisdiction(settings.jurisdiction).name).strip()
        if not agency_name:
            fail("--agency names the agency")
        root = pki.make_root_ca(f"hoso Root CA — {agency_name}", key_type)
        issuing = pki.make_issuing_ca(root, f"hoso Issuing CA — {agency_name}", key_type)
        agency_key, agency_certificate = pki.issue_certificate(
            issuing,
            agency_name,
            key_type=key_type,
            organisation=agency_name,
            usage="agency",
            valid_until=datetime.now(UTC) + timedelta(days=5 * 365),
        )
        with _undo_on_failure() as undo, _ledger(settings) as ledger:
            _write_new(anchors, pki.pem_bundle([root.certificate]), undo)
            _write_new(intermediates, pki.pem_bundle([issuing.certificate]), undo)
            ca_dir = target / "ca"
            undo.append(lambda: _remove_empty(ca_dir))  # undone last, once emptied
            _store(ca_dir, ROOT, root.key, root.certificate, [], secret, undo)
            _store(
                ca_dir, ISSUING, issuing.key, issuing.certificate, [*issuing.chain], secret, undo
            )
            _store(
                keys_dir,
                agency_account,
                agency_key,
                agency_certificate,
                [issuing.certificate, *issuing.chain],
                secret,
                undo,
            )
            fingerprint = registry.register_certificate(
                ledger, agency_certificate, agency_account, actor
            )
    except DomainError as exc:
        fail(exc.message)
    say(f"root authority:    {pki.common_name(root.certificate)}")
    say(f"issuing authority: {pki.common_name(issuing.certificate)}")
    say(f"agency certificate {fingerprint} ({agency_name}), key for {agency_account}")
    say(f"trust anchors: {anchors}")
    say(f"intermediates: {intermediates}")
    if directory is not None and anchors != registry.trust_anchors_path(settings):
        say(
            f"set HOSO_TRUST_ANCHORS={anchors} and HOSO_INTERMEDIATES={intermediates} "
            "to trust this hierarchy"
        )


def _remove_empty(directory: Path) -> None:
    if directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()


@app.command()
def issue(
    account: Annotated[str, typer.Argument(help="the signer's account")],
    name: Annotated[str, typer.Option(help="the signer's full name, e.g. 'Nguyễn Văn An'")],
    key: Annotated[str, typer.Option(help="key type: ec or rsa")] = "ec",
    days: Annotated[int, typer.Option(help="days of validity")] = pki.END_ENTITY_DAYS,
    email: Annotated[str | None, typer.Option(help="the signer's e-mail address")] = None,
    organisation: Annotated[str | None, typer.Option(help="the signer's agency")] = None,
    replace: Annotated[
        bool, typer.Option(help="replace the account's key in the keystore")
    ] = False,
    directory: PkiDir = None,
    passphrase: Passphrase = None,
    by: By = "admin",
) -> None:
    """Issue a signer's certificate: key into the keystore, certificate into the ledger."""
    settings = Settings()
    target = _pki_dir(settings, directory)
    keys_dir = keystore.default_directory(settings)
    key_type = _key_type(key)
    actor = _actor(by)
    if days <= 0:
        fail("--days is a positive number of days")
    try:
        secret = keystore.check_passphrase(passphrase)
        keystore.path_for(keys_dir, account)
        if keystore.has(keys_dir, account) and not replace:
            fail(f"the keystore already holds a key for {account}; give --replace to renew it")
        if not keystore.has(target / "ca", ISSUING):
            fail(f"no issuing authority in {target}; run `hoso pki init` first")
        ca_key, ca_certificate, ca_chain = keystore.load(target / "ca", ISSUING, secret)
        issuer = pki.Authority(ca_key, ca_certificate, tuple(ca_chain))
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        end = min(start + timedelta(days=days), ca_certificate.not_valid_after_utc)
        if end <= start:
            fail(f"the issuing authority expired on {ca_certificate.not_valid_after_utc:%Y-%m-%d}")
        signer_key, certificate = pki.issue_certificate(
            issuer,
            name,
            key_type=key_type,
            valid_from=start,
            valid_until=end,
            email=email,
            organisation=organisation,
        )
        chain = [ca_certificate, *ca_chain]
        with _undo_on_failure() as undo, _ledger(settings) as ledger:
            _store(keys_dir, account, signer_key, certificate, chain, secret, undo, replace=replace)
            fingerprint = registry.register_certificate(ledger, certificate, account, actor)
    except DomainError as exc:
        fail(exc.message)
    say(
        f"issued certificate {fingerprint} to {account} ({pki.common_name(certificate)}), "
        f"valid until {end:%Y-%m-%d}"
    )


@app.command("import")
def import_pkcs12(
    file: Annotated[Path, typer.Argument(help="a PKCS#12 file (.p12, .pfx)")],
    account: Annotated[str, typer.Option(help="the holder's account")],
    password: Annotated[
        str | None, typer.Option(help="the PKCS#12 file's password", show_default=False)
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="replace the account's key in the keystore")
    ] = False,
    passphrase: Passphrase = None,
    by: By = "admin",
) -> None:
    """Import a PKCS#12 file: key into the keystore, certificate into the ledger."""
    settings = Settings()
    keys_dir = keystore.default_directory(settings)
    actor = _actor(by)
    if not file.is_file():
        fail(f"no file {file}")
    try:
        secret = keystore.check_passphrase(passphrase)
        keystore.path_for(keys_dir, account)
        if keystore.has(keys_dir, account) and not replace:
            fail(f"the keystore already holds a key for {account}; give --replace to renew it")
        signer_key, certificate, chain = pki.load_pkcs12(file.read_bytes(), password)
        registry.build_certificate(certificate, account, actor)  # checked before any change
        with _undo_on_failure() as undo, _ledger(settings) as ledger:
            _refuse_registered(ledger, fingerprint_of(certificate))
            _store(keys_dir, account, signer_key, certificate, chain, secret, undo, replace=replace)
            fingerprint = registry.register_certificate(ledger, certificate, account, actor)
        problem = pki.chain_problem(
            certificate,
            [*chain, *registry.intermediates(settings)],
            registry.trust_anchors(settings),
            datetime.now(UTC),
        )
    except DomainError as exc:
        fail(exc.message)
    say(f"imported certificate {fingerprint} of {pki.common_name(certificate)} for {account}")
    if problem:
        say(f"not valid now under the trust anchors: {problem}", label="[yellow]warning:[/yellow] ")


@app.command()
def revoke(
    fingerprint: Annotated[str, typer.Argument(help="the certificate's SHA-256 fingerprint")],
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="from when, e.g. 2026-01-15T00:00:00Z; a date alone means 00:00 Vietnam time",
        ),
    ],
    reason: Annotated[str, typer.Option(help="why")],
    by: By = "admin",
) -> None:
    """Revoke a certificate from a moment on (earlier signatures stay valid)."""
    moment = _moment(at)
    settings = Settings()
    try:
        normalised = normalise_fingerprint(fingerprint)
        with _ledger(settings) as ledger:
            registry.revoke_certificate(ledger, normalised, moment, reason, _actor(by))
    except DomainError as exc:
        fail(exc.message)
    say(f"certificate {normalised} revoked from {moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}")


def _moment(text: str) -> datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
            return datetime.combine(day, time(0), tzinfo=VIETNAM)
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--at {text!r} is not a date and time (e.g. 2026-01-15T00:00:00Z)")
    if moment.tzinfo is None:
        fail(f"--at {text!r} needs a time zone (e.g. 2026-01-15T00:00:00Z or +07:00)")
    return moment


@app.command("list")
def list_certificates(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The certificates registered in the ledger."""
    settings = Settings()
    with _ledger(settings) as ledger:
        found = registry.certificates(ledger)
    if as_json:
        print(json.dumps([_summary(c) for c in found], ensure_ascii=False, indent=2))
        return
    if not found:
        say("no certificates registered")
        return
    table = Table(title="Chứng thư số")
    for column in ("fingerprint", "holder", "name", "key", "valid from", "until", "revoked"):
        table.add_column(column, overflow="fold")
    for certificate in found:
        table.add_row(
            certificate.fingerprint,
            certificate.holder_account,
            pki.common_name(pki.parse_certificate(certificate.pem)),
            certificate.key_type,
            f"{certificate.not_before:%Y-%m-%d}",
            f"{certificate.not_after:%Y-%m-%d}",
            _revoked(certificate),
        )
    console.print(table)


def _revoked(certificate: Certificate) -> str:
    if certificate.revoked_at is None:
        return ""
    return f"{certificate.revoked_at:%Y-%m-%dT%H:%M:%SZ} ({certificate.revocation_reason})"


def _summary(certificate: Certificate) -> dict[str, object]:
    return {
        "fingerprint": certificate.fingerprint,
        "holder_account": certificate.holder_account,
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial": certificate.serial,
        "key_type": certificate.key_type,
        "not_before": certificate.not_before.isoformat(),
        "not_after": certificate.not_after.isoformat(),
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
        "revocation_reason": certificate.revocation_reason,
    }
