"""Helpers shared by the tests: fixtures' building blocks, message factories, child scripts (pytest.ini puts test/ on
sys.path, so test modules import them as ``_support.<module>``)."""
