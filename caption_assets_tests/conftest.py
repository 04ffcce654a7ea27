import pytest

# helpers that assert for the tests: their failures should show the values, as the tests' own do
pytest.register_assert_rewrite("caption_assets_tests.fixtures.captions")

pytest_plugins = [
    "caption_assets_tests.fixtures.postgres",
    "caption_assets_tests.fixtures.seaweed",
    "caption_assets_tests.fixtures.videos",
    "caption_assets_tests.fixtures.platform",
]
