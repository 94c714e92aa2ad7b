"""The fixtures of kit.py, for every test module here."""

from tests.providers.skillsvideo.kit import serve as serve
from tests.providers.skillsvideo.kit import session as session
