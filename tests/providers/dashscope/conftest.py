"""The fixtures of kit.py, for every test module here."""

from tests.providers.dashscope.kit import fake as fake
from tests.providers.dashscope.kit import provider as provider
from tests.providers.dashscope.kit import session as session
