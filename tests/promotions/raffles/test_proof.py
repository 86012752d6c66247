"""The provably fair raffle: commitment, canonical list, HMAC ranking, verify and the CLI."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from liveshop.promotions.raffles.cli import raffle_app
from liveshop.promotions.raffles.proof import (
    ALGORITHM,
    Proof,
    ProofError,
    build_proof,
    commitment,
    draw,
    entrants_hash,
    new_server_seed,
    parse_proof,
    rank_key,
    suggested_public_seed,
    verify,
)

SEED = hashlib.sha256(b"liveshop raffle test vector").hexdigest()
FANS = [f"fan-{n:02d}" for n in range(1, 11)]
PUBLIC_SEED = "raffle-1:beacon-42"


def _proof(**changes: object) -> Proof:
    proof = build_proof(
        raffle_id="raffle-1",
        server_seed=SEED,
        public_seed=PUBLIC_SEED,
        entrant_ids=FANS,
        winners_count=3,
    )
    return proof.model_copy(update=changes)


def _code(proof: Proof) -> str:
    with pytest.raises(ProofError) as caught:
        verify(proof)
    return caught.value.code


def _independent_draw(seed_hex: str, public_seed: str, ids: list[str], k: int) -> list[str]:
    """The draw as docs/raffles.md defines it, written again without the module under test."""
    key = bytes.fromhex(seed_hex)
    keyed = [
        (hmac.new(key, f"{public_seed}:{i}".encode(), hashlib.sha256).digest(), i) for i in set(ids)
    ]
    return [i for _, i in sorted(keyed)][:k]


# --- primitives ------------------------------------------------------------------------------


def test_new_server_seed_is_32_random_bytes_in_lowercase_hex():
    seeds = {new_server_seed() for _ in range(50)}
    assert len(seeds) == 50
    for seed in seeds:
        assert len(seed) == 64 and seed == seed.lower()
        assert len(bytes.fromhex(seed)) == 32


def test_commitment_is_sha256_of_the_raw_seed_bytes_not_the_hex_text():
    assert commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
    assert commitment(SEED) != hashlib.sha256(SEED.encode()).hexdigest()
    one = "00" * 31 + "01"
    assert commitment(one) == "ec4916dd28fc4c10d78e287ca5d9cc51ee1ae73cbfde08c6b37324cbfaac8bc5"


@pytest.mark.parametrize("bad", ["", "ab", SEED.upper(), SEED[:-2], SEED + "00", "zz" * 32])
def test_a_malformed_server_seed_is_refused(bad: str):
    with pytest.raises(ValueError):
        commitment(bad)


def test_entrants_hash_is_sha256_of_sorted_unique_ids_joined_by_newlines():
    expected = hashlib.sha256("\n".join(sorted(FANS)).encode("utf-8")).hexdigest()
    assert entrants_hash(FANS) == expected
    assert entrants_hash(reversed(FANS)) == expected
    assert entrants_hash([*FANS, FANS[0]]) == expected
    assert entrants_hash([]) == hashlib.sha256(b"").hexdigest()
    assert entrants_hash(["ä", "a", "z"]) == hashlib.sha256("a\nz\nä".encode()).hexdigest()


@pytest.mark.parametrize("bad", ["", "a\nb", "tab\there", "nul\x00"])
def test_an_entrant_id_that_would_make_the_canonical_form_ambiguous_is_refused(bad: str):
    with pytest.raises(ValueError):
        entrants_hash(["ok", bad])


def test_rank_key_is_hmac_sha256_keyed_by_the_seed_bytes():
    expected = hmac.new(bytes.fromhex(SEED), b"pub:fan-01", hashlib.sha256).hexdigest()
    assert rank_key(SEED, "pub", "fan-01") == expected


# --- the draw --------------------------------------------------------------------------------


def test_known_vector_matches_an_independent_implementation():
    expected = _independent_draw(SEED, PUBLIC_SEED, FANS, 3)
    assert draw(SEED, PUBLIC_SEED, FANS, 3) == expected
    # Pinned, so that both implementations drifting together is caught too.
    assert expected == ["fan-06", "fan-09", "fan-04"]
    assert draw(SEED, PUBLIC_SEED, FANS, 10) == _independent_draw(SEED, PUBLIC_SEED, FANS, 10)


def test_draw_ignores_input_order_and_repeats():
    assert draw(SEED, PUBLIC_SEED, reversed(FANS), 3) == draw(SEED, PUBLIC_SEED, FANS, 3)
    assert draw(SEED, PUBLIC_SEED, FANS + FANS, 10) == draw(SEED, PUBLIC_SEED, FANS, 10)


def test_more_winners_than_entrants_returns_every_entrant_ranked():
    winners = draw(SEED, PUBLIC_SEED, FANS[:4], 10)
    assert sorted(winners) == FANS[:4]
    assert winners == _independent_draw(SEED, PUBLIC_SEED, FANS[:4], 4)


def test_no_entrants_no_winners_and_zero_winners_is_allowed():
    assert draw(SEED, PUBLIC_SEED, [], 3) == []
    assert draw(SEED, PUBLIC_SEED, FANS, 0) == []
    with pytest.raises(ValueError):
        draw(SEED, PUBLIC_SEED, FANS, -1)


def test_each_entrant_wins_about_equally_often_over_many_public_seeds():
    draws = 20_000
    wins = Counter(draw(SEED, f"beacon-{n}", FANS, 1)[0] for n in range(draws))
    assert set(wins) == set(FANS)
    expected = draws / len(FANS)  # 2,000; one standard deviation is about 42
    for fan in FANS:
        assert abs(wins[fan] - expected) < 0.1 * expected, wins
    chi_square = sum((wins[fan] - expected) ** 2 / expected for fan in FANS)
    assert chi_square < 40  # 9 degrees of freedom: p < 1e-5 above 40


def test_suggested_public_seed_binds_the_raffle_and_the_frozen_list():
    assert suggested_public_seed("r1", entrants_hash(FANS)) == f"r1:{entrants_hash(FANS)}"


# --- verify ----------------------------------------------------------------------------------


def test_round_trip_draw_then_verify():
    proof = _proof()
    result = verify(proof)
    assert result.winners == proof.winners == draw(SEED, PUBLIC_SEED, FANS, 3)
    assert result.entrants_count == 10
    assert result.algorithm == ALGORITHM == proof.algorithm
    assert verify(parse_proof(proof.model_dump_json())) == result


def test_reordered_entrants_still_verify():
    assert verify(_proof(entrants=list(reversed(FANS)))).winners == _proof().winners


def test_a_different_server_seed_is_a_seed_mismatch():
    assert _code(_proof(server_seed=new_server_seed())) == "raffle.seed_mismatch"


def test_a_different_commitment_is_a_seed_mismatch():
    assert _code(_proof(commitment=commitment(new_server_seed()))) == "raffle.seed_mismatch"


@pytest.mark.parametrize(
    "entrants",
    [
        [*FANS[:-1], "fan-99"],  # changed
        [*FANS, "fan-11"],  # added
        FANS[1:],  # removed
    ],
    ids=["changed", "added", "removed"],
)
def test_a_tampered_entrant_list_is_an_entrants_mismatch(entrants: list[str]):
    assert _code(_proof(entrants=entrants)) == "raffle.entrants_mismatch"


def test_a_winner_removed_from_list_and_hash_together_is_a_winners_mismatch():
    entrants = [fan for fan in FANS if fan != _proof().winners[0]]
    assert _code(_proof(entrants=entrants, entrants_hash=entrants_hash(entrants))) == (
        "raffle.winners_mismatch"
    )


def test_a_swapped_winner_is_a_winners_mismatch():
    winners = _proof().winners
    loser = next(fan for fan in FANS if fan not in winners)
    assert _code(_proof(winners=[loser, *winners[1:]])) == "raffle.winners_mismatch"


def test_winners_in_another_order_are_a_winners_mismatch():
    winners = _proof().winners
    assert _code(_proof(winners=[winners[1], winners[0], winners[2]])) == "raffle.winners_mismatch"


def test_a_winners_count_that_does_not_match_is_a_winners_mismatch():
    assert _code(_proof(winners_count=2)) == "raffle.winners_mismatch"
    assert _code(_proof(winners_count=4)) == "raffle.winners_mismatch"


def test_a_different_public_seed_is_a_winners_mismatch():
    assert _code(_proof(public_seed="raffle-1:beacon-43")) == "raffle.winners_mismatch"


def test_a_hidden_seed_cannot_be_verified_yet():
    proof = build_proof(
        raffle_id="raffle-1",
        server_seed=SEED,
        public_seed=PUBLIC_SEED,
        entrant_ids=FANS,
        winners_count=3,
        reveal=False,
    )
    assert proof.server_seed is None and proof.winners == []
    assert proof.commitment == commitment(SEED)
    assert _code(proof) == "raffle.seed_hidden"


def test_an_unknown_algorithm_is_refused():
    assert _code(_proof(algorithm="liveshop-raffle-v2")) == "raffle.algorithm_unknown"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"raffle_id": "r"}),
        _proof().model_dump_json().replace(SEED, SEED.upper()),
        json.dumps({**_proof().model_dump(), "winners_count": -1}),
        json.dumps({**_proof().model_dump(), "entrants": [*FANS, "a\nb"]}),
    ],
)
def test_a_malformed_proof_is_proof_invalid(text: str):
    with pytest.raises(ProofError) as caught:
        parse_proof(text)
    assert caught.value.code == "raffle.proof_invalid"


def test_an_unvalidated_proof_with_a_malformed_seed_is_proof_invalid():
    assert _code(_proof(server_seed="not hex")) == "raffle.proof_invalid"
    assert _code(_proof(entrants=["", *FANS])) == "raffle.proof_invalid"


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def proof_file(tmp_path: Path) -> Path:
    path = tmp_path / "proof.json"
    path.write_text(_proof().model_dump_json())
    return path


def test_cli_verifies_a_proof_file(proof_file: Path):
    result = CliRunner().invoke(raffle_app, ["verify", str(proof_file)])
    assert result.exit_code == 0, result.output
    assert "commitment OK" in result.output
    assert "entrants hash OK: 10 entrants" in result.output
    assert "3 winners reproduced" in result.output
    for rank, winner in enumerate(_proof().winners, start=1):
        assert f"{rank}. {winner}" in result.output


def test_cli_mounted_as_liveshop_raffle_reads_stdin(proof_file: Path):
    app = typer.Typer()
    app.add_typer(raffle_app, name="raffle")
    result = CliRunner().invoke(app, ["raffle", "verify", "-"], input=proof_file.read_text())
    assert result.exit_code == 0, result.output
    assert "3 winners reproduced" in result.output


def test_cli_json_output_is_one_line(proof_file: Path):
    result = CliRunner().invoke(raffle_app, ["verify", "--json", str(proof_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["ok"] is True
    assert body["winners"] == _proof().winners
    assert body["entrants"] == 10
    assert body["commitment"] == commitment(SEED)


def test_cli_rejects_a_tampered_seed_with_exit_1(tmp_path: Path):
    path = tmp_path / "tampered.json"
    path.write_text(_proof(server_seed=new_server_seed()).model_dump_json())
    plain = CliRunner().invoke(raffle_app, ["verify", str(path)])
    assert plain.exit_code == 1
    assert "raffle.seed_mismatch" in plain.output
    as_json = CliRunner().invoke(raffle_app, ["verify", "--json", str(path)])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["ok"] is False and body["code"] == "raffle.seed_mismatch"


def test_cli_rejects_a_tampered_list_from_stdin_with_exit_1():
    tampered = _proof(entrants=FANS[1:]).model_dump_json()
    result = CliRunner().invoke(raffle_app, ["verify", "--json", "-"], input=tampered)
    assert result.exit_code == 1
    assert json.loads(result.output)["code"] == "raffle.entrants_mismatch"


def test_cli_rejects_garbage_with_exit_1():
    result = CliRunner().invoke(raffle_app, ["verify", "-"], input="{not json")
    assert result.exit_code == 1
    assert "raffle.proof_invalid" in result.output


def test_cli_missing_file_is_unreadable_exit_2(tmp_path: Path):
    result = CliRunner().invoke(raffle_app, ["verify", "--json", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert json.loads(result.output)["code"] == "raffle.proof_unreadable"


@pytest.fixture
def proof_server() -> Iterator[str]:
    body = _proof().model_dump_json().encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/raffles/raffle-1/proof":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cli_fetches_a_proof_url(proof_server: str):
    ok = CliRunner().invoke(raffle_app, ["verify", f"{proof_server}/raffles/raffle-1/proof"])
    assert ok.exit_code == 0, ok.output
    assert "3 winners reproduced" in ok.output
    missing = CliRunner().invoke(raffle_app, ["verify", "--json", f"{proof_server}/nope"])
    assert missing.exit_code == 2
    assert "HTTP 404" in json.loads(missing.output)["detail"]
