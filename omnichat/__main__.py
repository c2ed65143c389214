"""`python -m omnichat`: the same entry point as the `omnichat` console script."""

from omnichat.cli import main

if __name__ == "__main__":
    main()
