"""``liveshop raffle verify``: re-run a raffle's draw from its published proof alone.

Exit codes: 0 the proof verifies; 1 it does not (the stable ``raffle.*`` code is printed);
2 the proof could not be read (missing file, HTTP error, too large).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from liveshop.promotions.raffles.proof import ProofError, VerifiedDraw, parse_proof, verify

raffle_app = typer.Typer(help="Provably fair raffles (docs/raffles.md).", no_args_is_help=True)

MAX_PROOF_BYTES = 64 * 1024 * 1024
"""A proof lists every entrant; a million 26-character ids is under 40 MB."""


class ProofUnreadable(Exception):
    """The proof could not be read at all (as opposed to read and rejected)."""


@raffle_app.callback()
def raffle_callback() -> None:
    """Provably fair raffles: verify a draw from its published proof."""


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with httpx.stream(
            "GET",
            url,
            timeout=timeout,
            follow_redirects=True,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise ProofUnreadable(f"GET {url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_PROOF_BYTES:
                    raise ProofUnreadable(f"{url} is larger than {MAX_PROOF_BYTES} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise ProofUnreadable(f"could not fetch {url}: {exc}") from exc


def _read(source: str, timeout: float) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read(MAX_PROOF_BYTES + 1)
    if source.startswith(("http://", "https://")):
        return _fetch(source, timeout)
    path = Path(source)
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_PROOF_BYTES + 1)
    except OSError as exc:
        raise ProofUnreadable(f"could not read {source}: {exc.strerror or exc}") from exc


def _emit_json(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, ensure_ascii=False, separators=(",", ":")))


def _print_summary(console: Console, result: VerifiedDraw) -> None:
    console.print(f"[bold]Raffle {escape(result.raffle_id)}[/bold] ({result.algorithm})")
    console.print(f"[green]✓[/green] commitment OK: sha256(server seed) = {result.commitment}")
    console.print(
        f"[green]✓[/green] entrants hash OK: {result.entrants_count} entrants "
        f"hash to {result.entrants_hash}"
    )
    console.print(f"[green]✓[/green] {len(result.winners)} winners reproduced:")
    for rank, winner in enumerate(result.winners, start=1):
        console.print(f"  {rank}. {escape(winner)}")
    console.print(f"public seed: {escape(result.public_seed)}")
    console.print(
        "Also compare the commitment with the one published at the open, the entrants hash with "
        "the one published at the close and the public seed with its announced source "
        "(docs/raffles.md)."
    )


@raffle_app.command("verify")
def verify_command(
    proof: Annotated[
        str, typer.Argument(help="A proof JSON file, '-' for stdin, or an http(s) URL.")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line instead of the summary.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a proof URL.")] = 10.0,
) -> None:
    """Re-run a raffle's draw from its proof; exit 0 if it verifies, 1 if not."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        data = _read(proof, timeout)
        if len(data) > MAX_PROOF_BYTES:
            raise ProofUnreadable(f"{proof} is larger than {MAX_PROOF_BYTES} bytes")
    except ProofUnreadable as exc:
        if json_output:
            _emit_json({"ok": False, "code": "raffle.proof_unreadable", "detail": str(exc)})
        else:
            console.print(f"[red]✗ raffle.proof_unreadable[/red]: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    try:
        result = verify(parse_proof(data))
    except ProofError as exc:
        if json_output:
            _emit_json({"ok": False, "code": exc.code, "detail": exc.detail})
        else:
            console.print(f"[red]✗ {exc.code}[/red]: {escape(exc.detail)}")
        raise typer.Exit(1) from exc
    if json_output:
        _emit_json(
            {
                "ok": True,
                "raffle_id": result.raffle_id,
                "algorithm": result.algorithm,
                "commitment": result.commitment,
                "entrants_hash": result.entrants_hash,
                "entrants": result.entrants_count,
                "public_seed": result.public_seed,
                "winners": result.winners,
            }
        )
    else:
        _print_summary(console, result)
