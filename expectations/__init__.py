"""Great Expectations checks that prove no revenue is double-counted."""
