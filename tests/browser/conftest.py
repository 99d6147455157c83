from coop.tests.test_browser_home import page  # noqa: F401  (the Chromium page fixture)
