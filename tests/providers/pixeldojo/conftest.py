"""The fixtures of kit.py, for every test module here."""

from tests.providers.pixeldojo.kit import fake as fake
from tests.providers.pixeldojo.kit import input_image as input_image
from tests.providers.pixeldojo.kit import provider as provider
from tests.providers.pixeldojo.kit import session as session
from tests.providers.pixeldojo.kit import start_fake as start_fake
