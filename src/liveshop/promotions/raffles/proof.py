"""The provably fair raffle, without a database: commit, freeze, draw, reveal, verify.

Everything here is a pure function of published data, so a viewer can re-run the draw with
this module (or ``liveshop raffle verify``) and nothing else. The protocol and the exact byte
definitions are in ``docs/raffles.md``; change neither without a new :data:`ALGORITHM`.

- **open:** the server picks :func:`new_server_seed` and publishes only its
  :func:`commitment`, ``sha256(bytes.fromhex(server_seed))``.
- **close:** the entrant list is frozen and :func:`entrants_hash` of its canonical form is
  published.
- **draw:** with a ``public_seed`` nobody knew before the close, every entrant gets
  :func:`rank_key`, ``HMAC-SHA256(key=bytes.fromhex(server_seed),
  msg=UTF-8(public_seed + ":" + entrant_id))``; :func:`draw` takes the lowest keys.
- **reveal:** the server seed is published in the :class:`Proof`; :func:`verify` checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ALGORITHM: Final = "liveshop-raffle-v1"
"""Names the definitions below; a proof that names another algorithm is not verified."""

SEED_BYTES: Final = 32

_SEED_HEX = re.compile(r"[0-9a-f]{64}")
_HASH_PATTERN: Final = r"^[0-9a-f]{64}$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ProofError(Exception):
    """A proof that does not verify; ``code`` is stable, ``detail`` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def _seed_bytes(server_seed: str) -> bytes:
    if not _SEED_HEX.fullmatch(server_seed):
        raise ValueError("a server seed is 64 lowercase hex digits (32 bytes)")
    return bytes.fromhex(server_seed)


def _check_entrant_id(entrant_id: str) -> str:
    # An empty id or one with a newline would make two different lists share a canonical form.
    if not entrant_id:
        raise ValueError("an entrant id may not be empty")
    if _CONTROL.search(entrant_id):
        raise ValueError(f"entrant id {entrant_id!r} contains a control character")
    return entrant_id


def new_server_seed() -> str:
    """32 bytes from the OS's CSPRNG, as 64 lowercase hex digits."""
    return secrets.token_hex(SEED_BYTES)


def commitment(server_seed: str) -> str:
    """SHA-256 of the seed's 32 raw bytes (``bytes.fromhex(seed)``, not its hex text), hex."""
    return hashlib.sha256(_seed_bytes(server_seed)).hexdigest()


def canonical_entrants(entrant_ids: Iterable[str]) -> list[str]:
    """The unique ids sorted by code point: the order and repeats of the input do not count."""
    return sorted({_check_entrant_id(entrant_id) for entrant_id in entrant_ids})


def entrants_hash(entrant_ids: Iterable[str]) -> str:
    """SHA-256 hex of UTF-8(``"\\n".join(canonical_entrants(ids))``), no trailing newline."""
    canonical = "\n".join(canonical_entrants(entrant_ids))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def suggested_public_seed(raffle_id: str, frozen_entrants_hash: str) -> str:
    """``raffle_id:entrants_hash``, the fallback public seed when no external beacon is used.

    Fixed only at the close, so the server seed (committed at the open) cannot have been chosen
    for it; it does not stop an operator who stuffs the list with fake entrants (docs/raffles.md).
    """
    return f"{raffle_id}:{frozen_entrants_hash}"


def rank_key(server_seed: str, public_seed: str, entrant_id: str) -> str:
    """HMAC-SHA256(key=bytes.fromhex(seed), msg=UTF-8(f"{public_seed}:{entrant_id}")), hex."""
    message = f"{public_seed}:{entrant_id}".encode()
    return hmac.new(_seed_bytes(server_seed), message, hashlib.sha256).hexdigest()


def draw(server_seed: str, public_seed: str, entrant_ids: Iterable[str], winners: int) -> list[str]:
    """The first ``winners`` unique entrants by ascending (rank_key, entrant_id), in rank order.

    Asking for more winners than there are entrants returns them all; no entrants, no winners.
    """
    if winners < 0:
        raise ValueError("winners may not be negative")
    ranked = sorted(
        canonical_entrants(entrant_ids),
        key=lambda entrant_id: (rank_key(server_seed, public_seed, entrant_id), entrant_id),
    )
    return ranked[:winners]


class Proof(BaseModel):
    """Everything a viewer needs to re-run a raffle's draw; served as JSON by the proof endpoint.

    Before the draw ``server_seed`` is None and ``winners`` is empty: the commitment and the
    frozen list can be checked already, the draw cannot.
    """

    model_config = ConfigDict(frozen=True)

    algorithm: str = ALGORITHM
    raffle_id: str = Field(min_length=1)
    commitment: str = Field(pattern=_HASH_PATTERN)
    entrants: list[str]
    entrants_hash: str = Field(pattern=_HASH_PATTERN)
    public_seed: str = Field(min_length=1)
    server_seed: str | None = Field(default=None, pattern=_HASH_PATTERN)
    winners_count: int = Field(ge=0)
    winners: list[str] = Field(default_factory=list)

    @field_validator("entrants", "winners")
    @classmethod
    def _entrant_ids(cls, value: list[str]) -> list[str]:
        for entrant_id in value:
            _check_entrant_id(entrant_id)
        return value


@dataclass(frozen=True, slots=True)
class VerifiedDraw:
    """What :func:`verify` established: the draw below follows from the published data alone."""

    raffle_id: str
    algorithm: str
    commitment: str
    entrants_hash: str
    entrants_count: int
    public_seed: str
    server_seed: str
    winners: list[str]


def build_proof(
    *,
    raffle_id: str,
    server_seed: str,
    public_seed: str,
    entrant_ids: Iterable[str],
    winners_count: int,
    reveal: bool = True,
) -> Proof:
    """Draw and package the result; ``reveal=False`` gives the proof before the reveal."""
    entrants = canonical_entrants(entrant_ids)
    return Proof(
        raffle_id=raffle_id,
        commitment=commitment(server_seed),
        entrants=entrants,
        entrants_hash=entrants_hash(entrants),
        public_seed=public_seed,
        server_seed=server_seed if reveal else None,
        winners_count=winners_count,
        winners=draw(server_seed, public_seed, entrants, winners_count) if reveal else [],
    )


def parse_proof(data: str | bytes) -> Proof:
    """A :class:`Proof` from its JSON text; anything malformed is ``raffle.proof_invalid``."""
    try:
        return Proof.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'proof'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ProofError("raffle.proof_invalid", f"not a raffle proof ({problems})") from exc


def verify(proof: Proof) -> VerifiedDraw:
    """Re-run the draw from the proof alone; raise :class:`ProofError` at the first failed check.

    Checks, in order: the algorithm is known (``raffle.algorithm_unknown``); the list hashes to
    ``entrants_hash`` (``raffle.entrants_mismatch``); the seed is revealed
    (``raffle.seed_hidden``); it hashes to ``commitment`` (``raffle.seed_mismatch``); the
    recomputed winners equal the published ones, in order (``raffle.winners_mismatch``).
    A proof built without validation (``model_copy``) that holds a malformed seed or id is
    ``raffle.proof_invalid``.
    """
    try:
        return _verify(proof)
    except ValueError as exc:
        raise ProofError("raffle.proof_invalid", str(exc)) from exc


def _verify(proof: Proof) -> VerifiedDraw:
    if proof.algorithm != ALGORITHM:
        raise ProofError(
            "raffle.algorithm_unknown",
            f"proof uses {proof.algorithm!r}; this verifier knows {ALGORITHM!r}",
        )
    actual_hash = entrants_hash(proof.entrants)
    if actual_hash != proof.entrants_hash:
        raise ProofError(
            "raffle.entrants_mismatch",
            f"the entrant list hashes to {actual_hash}, not the published {proof.entrants_hash}",
        )
    if proof.server_seed is None:
        raise ProofError(
            "raffle.seed_hidden", "the server seed is not revealed yet: the draw cannot be checked"
        )
    actual_commitment = commitment(proof.server_seed)
    if actual_commitment != proof.commitment:
        raise ProofError(
            "raffle.seed_mismatch",
            f"the revealed seed hashes to {actual_commitment}, "
            f"not the published commitment {proof.commitment}",
        )
    expected = draw(proof.server_seed, proof.public_seed, proof.entrants, proof.winners_count)
    if expected != proof.winners:
        raise ProofError(
            "raffle.winners_mismatch",
            f"the draw gives {expected}, the proof publishes {proof.winners}",
        )
    return VerifiedDraw(
        raffle_id=proof.raffle_id,
        algorithm=proof.algorithm,
        commitment=proof.commitment,
        entrants_hash=proof.entrants_hash,
        entrants_count=len(canonical_entrants(proof.entrants)),
        public_seed=proof.public_seed,
        server_seed=proof.server_seed,
        winners=expected,
    )
