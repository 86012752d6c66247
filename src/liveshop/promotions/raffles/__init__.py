"""Provably fair raffles: commit-reveal draws among eligible viewers, verifiable with `liveshop
raffle verify`."""
