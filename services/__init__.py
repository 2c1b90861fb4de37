"""Use cases the API, the CLI and the flows share: requesting syncs and deletions, Prefect access, slots, quota.

Services reach flows only through Prefect (by deployment name) and import no api, cli, flows or tasks
(tests/test_architecture.py holds them to it).
"""
