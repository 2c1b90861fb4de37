"""The flow fixtures (fake Gmail, a connected business) for the hostile-mail sync tests."""

from tests.flows.conftest import connect_business, sync_env  # noqa: F401
