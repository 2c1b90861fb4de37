"""`python -m cli …`: the same command as the `receipts` script."""

from cli import main

main()
