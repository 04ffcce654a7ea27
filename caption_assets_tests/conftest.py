pytest_plugins = [
    "caption_assets_tests.fixtures.postgres",
    "caption_assets_tests.fixtures.seaweed",
    "caption_assets_tests.fixtures.videos",
    "caption_assets_tests.fixtures.platform",
]
