"""`countonce demo`: the traced example counted once, and the same figures on every run."""


def test_demo_counts_the_traced_payment_once_and_repeats_exactly(cli):
    first = cli("demo")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "before recording its offset (exit 75)" in first.stdout
    assert "it replays the file: 3 more rows landed" in first.stdout
    assert "revenue 2026-11-26 10:01 USD = 65.00 from 1 paid event: counted once" in first.stdout
    assert "equal the simulator's ground truth to the cent" in first.stdout
    assert ": exactly the lost events" in first.stdout
    second = cli("demo")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout == first.stdout
