"""The command line as a script: what `python -m countonce` runs (see __main__.py)."""

from countonce.cli import main

if __name__ == "__main__":
    main()
