# The sample suite needs nothing here: the keypaird fixtures come from the installed wheel's
# pytest11 entry point. pytester runs an inner session in test_environment.py.
pytest_plugins = ["pytester"]
