"""CLI: the recovery opening, receipt verification and the recovery key pair.

    flask procurement recovery-keygen --out DIR
    flask procurement open-with-recovery TENDER_ID --key recovery_private.pem --share CODE [--share CODE ...]
    flask procurement verify-receipt FILE
"""

from __future__ import annotations

from pathlib import Path

import click

from core.errors import DomainError
from core.private_files import create_private_file
from procurement import sealing
from procurement.cli import procurement_cli


@procurement_cli.command("recovery-keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for recovery_private.pem and recovery_public.pem.")
@click.option("--passphrase", is_flag=True, help="Encrypt the private key with a passphrase (asked twice).")
def recovery_keygen(out_dir: Path, passphrase: bool) -> None:
    """Create the offline recovery key pair (X25519). Keep the private key OFF the platform."""
    private_path = out_dir / "recovery_private.pem"
    public_path = out_dir / "recovery_public.pem"
    if private_path.exists() or public_path.exists():
        raise click.ClickException(f"{out_dir} already holds a recovery key; not overwriting it.")
    secret = None
    if passphrase:
        secret = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True).encode("utf-8")
    private_pem, public_pem = sealing.generate_recovery_keypair(secret)
    create_private_file(private_path, private_pem)
    public_path.write_bytes(public_pem)
    fingerprint = sealing.key_fingerprint(sealing.public_key_raw_from_pem(public_pem))
    click.echo(f"Private key: {private_path} (mode 0600) - move it off the platform, e.g. to the notary.")
    click.echo(f"Public key:  {public_path}")
    click.echo(f"Fingerprint: {fingerprint}")
    click.echo(f"Configure the platform with PROCUREMENT_RECOVERY_PUBLIC_KEY={public_path}")


@procurement_cli.command("open-with-recovery")
@click.argument("tender_id", type=int)
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The offline recovery private key (PEM).")
@click.option("--share", "shares", multiple=True, help="A custodian's share code (k - 1 of them); repeatable.")
@click.option("--share-file", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A custodian's share file instead of a code; repeatable.")
@click.option("--passphrase", is_flag=True, help="The recovery key is encrypted: ask for its passphrase.")
def open_with_recovery_command(tender_id: int, key_file: Path, shares: tuple[str, ...],
                               share_files: tuple[Path, ...], passphrase: bool) -> None:
    """Open a tender's bids with the recovery share and k - 1 custodian shares."""
    from procurement.services import opening

    password = click.prompt("Passphrase", hide_input=True).encode("utf-8") if passphrase else None
    given = list(shares) + [p.read_text(encoding="utf-8") for p in share_files]
    try:
        result = opening.open_with_recovery(tender_id, key_file.read_bytes(), given, password=password, source="cli")
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(f"Tender {result.tender_id} opened with the recovery key: status {result.status}.")
    click.echo(f"Bids opened: {result.bids_opened}; invalid: {result.bids_invalid}.")
    if result.unsuccessful_lots:
        click.echo("Unsuccessful lots: " + ", ".join(str(n) for n in result.unsuccessful_lots))


@procurement_cli.command("verify-receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_receipt_command(file: Path) -> None:
    """Check a bid receipt (JSON) against the platform's signing key: prints valid or invalid."""
    from procurement.services.bids import check_receipt  # the same check as the page and the API

    result = check_receipt(file.read_bytes())
    if not result.valid:
        click.echo(f"invalid: {result.reason}")
        raise SystemExit(1)
    receipt = result.receipt or {}
    click.echo(f"valid: tender {receipt.get('tender_id')}, bidder {receipt.get('bidder_org_id')}, "
               f"lots {receipt.get('lots')}, received {receipt.get('received_at')}, {len(result.parts)} part(s)")
    for part in result.parts:
        click.echo(f"  {part.get('sha256')}  {part.get('size')}  {part.get('name')}")
